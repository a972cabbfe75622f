#pragma once
// The OpenAPI 3 description of the admin HTTP plane, served at
// GET /api/v1/openapi.json. A test checks that every route it lists answers
// and that it lists every route RestApi serves.
#include <string>

namespace nib::admin {

// Any thread. The document as JSON text (built once).
const std::string& openapi_document();

}  // namespace nib::admin
