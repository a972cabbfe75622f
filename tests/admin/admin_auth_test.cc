#include "admin/common/admin_auth.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/temp_file.h"

namespace nib::admin {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kAdminToken = "adm1n-t0ken-aaaaaaaaaaaa";
constexpr const char* kReadToken = "read-0nly-token-bbbbbbbb";

std::string error_of(std::string_view text) {
  auto auth = AdminAuth::parse(text, "tokens.txt");
  EXPECT_FALSE(auth.ok()) << "parsed unexpectedly: " << text;
  return auth.ok() ? "" : auth.status().message();
}

TEST(AdminAuthTest, DisabledLetsEveryoneInAsAdmin) {
  AdminAuth auth;
  EXPECT_FALSE(auth.enabled());
  EXPECT_EQ(auth.authorize(""), Role::kAdmin);
  EXPECT_EQ(auth.authorize("Bearer whatever"), Role::kAdmin);
}

TEST(AdminAuthTest, ParsesRolesCommentsAndBlankLines) {
  auto auth = AdminAuth::parse(std::string("# nib admin tokens\n\nadmin ") + kAdminToken +
                                   "   # ops team\r\n  readonly\t" + kReadToken + "\r\n",
                               "tokens.txt");
  ASSERT_TRUE(auth.ok()) << auth.status().message();
  EXPECT_TRUE(auth->enabled());
  EXPECT_EQ(auth->token_count(), 2u);
  EXPECT_EQ(auth->authorize(std::string("Bearer ") + kAdminToken), Role::kAdmin);
  EXPECT_EQ(auth->authorize(std::string("Bearer ") + kReadToken), Role::kReadOnly);
  EXPECT_EQ(auth->authorize(std::string("bearer ") + kReadToken), Role::kReadOnly);  // the scheme is case-insensitive
  EXPECT_EQ(auth->authorize(std::string("Bearer  ") + kReadToken + " "), Role::kReadOnly);
}

TEST(AdminAuthTest, RejectsMissingAndUnknownTokens) {
  auto auth = AdminAuth::parse(std::string("admin ") + kAdminToken + "\n", "tokens.txt");
  ASSERT_TRUE(auth.ok());
  EXPECT_EQ(auth->authorize(""), Role::kNone);
  EXPECT_EQ(auth->authorize("Bearer"), Role::kNone);
  EXPECT_EQ(auth->authorize("Bearer "), Role::kNone);
  EXPECT_EQ(auth->authorize(kAdminToken), Role::kNone);                               // no scheme
  EXPECT_EQ(auth->authorize(std::string("Basic ") + kAdminToken), Role::kNone);       // wrong scheme
  EXPECT_EQ(auth->authorize(std::string("Bearer ") + kAdminToken + "x"), Role::kNone);  // longer
  std::string prefix(kAdminToken);
  prefix.pop_back();
  EXPECT_EQ(auth->authorize("Bearer " + prefix), Role::kNone);  // a prefix is not the token
}

TEST(AdminAuthTest, FileErrorsNameTheLineButNeverTheToken) {
  EXPECT_EQ(error_of(std::string("admin ") + kAdminToken + "\nroot " + kReadToken + "\n"),
            "admin token file tokens.txt:2: expected a line 'admin <token>' or 'readonly <token>'");
  // A token pasted alone must not be echoed either.
  EXPECT_THAT(error_of(std::string(kReadToken) + "\n"), Not(HasSubstr(kReadToken)));
  EXPECT_EQ(error_of("admin\n"), "admin token file tokens.txt:1: expected exactly one token after 'admin'");
  EXPECT_EQ(error_of(std::string("readonly ") + kReadToken + " extra\n"),
            "admin token file tokens.txt:1: expected exactly one token after 'readonly'");
  EXPECT_EQ(error_of("admin short\n"), "admin token file tokens.txt:1: token is shorter than 16 characters");
  EXPECT_EQ(error_of("admin bad\"character-xxxxxxxxx\n"),
            "admin token file tokens.txt:1: token has a character outside A-Z a-z 0-9 - . _ ~ + / =");
  EXPECT_EQ(error_of(std::string("admin ") + kAdminToken + "\nreadonly " + kAdminToken + "\n"),
            "admin token file tokens.txt:2: the same token is listed twice");
  EXPECT_THAT(error_of("# nothing here\n\n"), HasSubstr("tokens.txt: no tokens"));
  EXPECT_THAT(error_of(""), HasSubstr("no tokens"));
}

TEST(AdminAuthTest, LoadsFiles) {
  test::TempFile file(std::string("readonly ") + kReadToken + "\n");
  auto auth = AdminAuth::load_file(file.path());
  ASSERT_TRUE(auth.ok()) << auth.status().message();
  EXPECT_EQ(auth->authorize(std::string("Bearer ") + kReadToken), Role::kReadOnly);
  auto missing = AdminAuth::load_file("/nonexistent/nib-tokens");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(),
            "admin token file /nonexistent/nib-tokens: cannot read: No such file or directory");
}

TEST(AdminAuthTest, ConstantTimeEqual) {
  EXPECT_TRUE(constant_time_equal("", ""));
  EXPECT_TRUE(constant_time_equal("abc", "abc"));
  EXPECT_FALSE(constant_time_equal("abc", "abd"));
  EXPECT_FALSE(constant_time_equal("abc", "ab"));
  EXPECT_FALSE(constant_time_equal("ab", "abc"));
  EXPECT_FALSE(constant_time_equal("", "a"));
  EXPECT_FALSE(constant_time_equal(std::string_view("a\0", 2), "a"));
}

}  // namespace
}  // namespace nib::admin
