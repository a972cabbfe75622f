#include "tests/support/test_nginx.h"

#include "tests/support/temp_file.h"
#include "tests/support/test_client.h"

namespace nib::test {

Result<std::unique_ptr<NibProcess>> start_nginx(const std::string& dir, const std::string& servers,
                                                const std::vector<uint16_t>& ports) {
  const std::string conf = dir + "/nginx.conf";
  // Temp paths in `dir`: nginx's defaults are under /var/lib/nginx.
  const std::string text = "daemon off;\nmaster_process off;\nworker_processes 1;\npid " + dir + "/nginx.pid;\n" +
                           "error_log " + dir + "/error.log;\nevents { worker_connections 64; }\nhttp {\n" +
                           "  client_body_temp_path " + dir + "/body;\n  proxy_temp_path " + dir + "/proxy;\n" +
                           "  fastcgi_temp_path " + dir + "/fastcgi;\n  uwsgi_temp_path " + dir + "/uwsgi;\n" +
                           "  scgi_temp_path " + dir + "/scgi;\n" + servers + "}\n";
  if (Status st = write_file(conf, text); !st.ok()) return st;
  auto nginx = NibProcess::start_program(kNginxBinary, {"-c", conf, "-p", dir, "-e", dir + "/error.log"});
  if (!nginx.ok()) return nginx.status();
  const bool up = wait_until(
      [&] {
        for (uint16_t port : ports) {
          if (!TestClient::connect(*SocketAddress::from_ip("127.0.0.1", port)).ok()) return false;
        }
        return true;
      },
      std::chrono::seconds(10));
  if (!up) {
    return Status::unavailable("nginx did not start: " + (*nginx)->output() +
                               read_file(dir + "/error.log").value_or(""));
  }
  return std::move(*nginx);
}

}  // namespace nib::test
