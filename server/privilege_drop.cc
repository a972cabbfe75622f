#include "server/privilege_drop.h"

#include <grp.h>
#include <pwd.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>

namespace nib {
namespace {

// "setgid(65534): Operation not permitted (EPERM)".
Status errno_error(const std::string& what) {
  int e = errno;
  const char* name = ::strerrorname_np(e);
  return Status::internal(what + ": " + std::strerror(e) + " (" + (name != nullptr ? name : std::to_string(e)) + ")");
}

cap_value_t to_cap(Capability c) { return c == Capability::kNetAdmin ? CAP_NET_ADMIN : CAP_NET_RAW; }
const char* name_of(Capability c) { return c == Capability::kNetAdmin ? "CAP_NET_ADMIN" : "CAP_NET_RAW"; }

// "CAP_NET_ADMIN and CAP_NET_RAW".
std::string names_of(const std::vector<Capability>& caps) {
  std::string out;
  for (size_t i = 0; i < caps.size(); ++i) out += (i == 0 ? "" : " and ") + std::string(name_of(caps[i]));
  return out;
}

// "cap_net_raw", as getpcaps writes it.
std::string cap_name(cap_value_t c) {
  char* name = ::cap_to_name(c);
  std::string out = name != nullptr ? name : std::to_string(c);
  if (name != nullptr) ::cap_free(name);
  return out;
}

bool kept(const std::vector<Capability>& keep, cap_value_t value) {
  for (Capability c : keep) {
    if (to_cap(c) == value) return true;
  }
  return false;
}

// Exactly `keep`, permitted and effective; null when libcap has no memory.
cap_t capabilities_of(const std::vector<Capability>& keep) {
  cap_t caps = ::cap_init();
  std::vector<cap_value_t> values;
  for (Capability c : keep) values.push_back(to_cap(c));
  if (caps != nullptr && !values.empty()) {
    const int n = static_cast<int>(values.size());
    if (::cap_set_flag(caps, CAP_PERMITTED, n, values.data(), CAP_SET) != 0 ||
        ::cap_set_flag(caps, CAP_EFFECTIVE, n, values.data(), CAP_SET) != 0) {
      ::cap_free(caps);
      return nullptr;
    }
  }
  return caps;
}

// The calling thread's permitted and effective sets become exactly `keep`
// (inheritable empty, which also empties the ambient set).
Status set_capabilities(const std::vector<Capability>& keep) {
  cap_t caps = capabilities_of(keep);
  if (caps == nullptr) return errno_error("cap_init");
  int rc = ::cap_set_proc(caps);
  int saved = errno;
  ::cap_free(caps);
  errno = saved;
  if (rc != 0) return errno_error("cap_set_proc");
  return {};
}

// A thread that keeps a capability could gain every other one by executing a
// setuid-root or file-capability program; with the bounding set reduced to
// what it keeps it gains none (needs CAP_SETPCAP: before the uid change).
// The threads it starts inherit the reduced set.
Status limit_bounding_set(const std::vector<Capability>& keep) {
  for (cap_value_t c = 0; c < ::cap_max_bits(); ++c) {
    if (!kept(keep, c) && ::cap_get_bound(c) == 1 && ::cap_drop_bound(c) != 0) {
      return errno_error("dropping " + cap_name(c) + " from the bounding set");
    }
  }
  return {};
}

std::string join_ids(const std::vector<gid_t>& ids) {
  std::string out;
  for (gid_t id : ids) out += (out.empty() ? "" : ",") + std::to_string(id);
  return out;
}

}  // namespace

Result<PrivilegeDrop> PrivilegeDrop::prepare(PrivilegeOptions options) {
  PrivilegeDrop drop(std::move(options));
  if (!drop.enabled()) return drop;
  const std::string& user = drop.options_.user;
  const bool root = ::geteuid() == 0;
  if (!user.empty()) {
    // getpwnam_r's buffer: sysconf may answer -1 ("no limit").
    long size = ::sysconf(_SC_GETPW_R_SIZE_MAX);
    std::vector<char> buf(size > 0 ? static_cast<size_t>(size) : 16384);
    passwd pw{};
    passwd* found = nullptr;
    errno = 0;
    int rc = ::getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found);
    if (found == nullptr) {
      if (rc != 0) {
        errno = rc;
        return errno_error("-u " + user + ": cannot look the user up");
      }
      return Status::invalid("-u " + user + ": no such user (the password database has no '" + user + "')");
    }
    drop.uid_ = pw.pw_uid;
    drop.gid_ = pw.pw_gid;
    // initgroups() would read /etc/group again at apply(), inside the jail:
    // the list is taken now.
    int count = 32;
    for (int attempt = 0; attempt < 4; ++attempt) {
      drop.groups_.resize(static_cast<size_t>(count));
      int n = count;
      if (::getgrouplist(user.c_str(), pw.pw_gid, drop.groups_.data(), &n) >= 0) {
        drop.groups_.resize(static_cast<size_t>(n));
        break;
      }
      count = n > count ? n : count * 4;  // too small: n says how many there are
    }
    if (drop.groups_.empty()) drop.groups_ = {pw.pw_gid};
    if (!root && drop.uid_ != ::geteuid()) {
      return Status::invalid("-u " + user + ": nib must start as root to change its user (it runs as uid " +
                             std::to_string(::geteuid()) + ")");
    }
  }
  if (!drop.options_.jail.empty()) {
    const std::string& jail = drop.options_.jail;
    if (!root) {
      return Status::invalid("-j " + jail + ": nib must start as root to chroot (it runs as uid " +
                             std::to_string(::geteuid()) + ")");
    }
    char resolved[PATH_MAX];
    struct stat st{};
    if (::realpath(jail.c_str(), resolved) == nullptr || ::stat(resolved, &st) != 0 || !S_ISDIR(st.st_mode)) {
      return Status::invalid("-j " + jail + ": expected an existing directory");
    }
    drop.options_.jail = resolved;
    if (::chdir(resolved) != 0) return errno_error("-j " + jail + ": chdir");
  }
  return drop;
}

Status PrivilegeDrop::apply() {
  if (!options_.jail.empty()) {
    if (::chroot(options_.jail.c_str()) != 0) return errno_error("chroot(" + options_.jail + ")");
    // The working directory was the jail already (prepare()); "/" is the same
    // directory, and now no path leads out of it.
    if (::chdir("/") != 0) return errno_error("chdir(/) in the jail");
  }
  if (options_.user.empty()) return verify(options_.keep);
  if (::geteuid() == 0) {
    if (::setgroups(groups_.size(), groups_.data()) != 0) return errno_error("setgroups(" + join_ids(groups_) + ")");
    if (::setgid(gid_) != 0) return errno_error("setgid(" + std::to_string(gid_) + ")");
    if (!options_.keep.empty()) {
      if (Status st = limit_bounding_set(options_.keep); !st.ok()) return st;
      bounding_limited_ = true;
      // Capabilities to keep survive the uid change only with KEEPCAPS, and
      // only in this thread (the other threads' setuid clears theirs).
      if (::prctl(PR_SET_KEEPCAPS, 1L, 0L, 0L, 0L) != 0) return errno_error("prctl(PR_SET_KEEPCAPS)");
    }
    if (::setuid(uid_) != 0) return errno_error("setuid(" + std::to_string(uid_) + ")");
    // Whatever the user's ids: the capability sets are exactly `keep` (empty:
    // none, even for a user whose uid is 0). KEEPCAPS kept the whole permitted
    // set and the uid change emptied the effective one: both become `keep`.
    if (Status st = set_capabilities(options_.keep); !st.ok()) return st;
    if (!options_.keep.empty()) ::prctl(PR_SET_KEEPCAPS, 0L, 0L, 0L, 0L);
  }
  return verify(options_.keep);
}

Status PrivilegeDrop::release_kept() {
  if (!keeps_capabilities()) return {};
  if (Status st = set_capabilities({}); !st.ok()) return st;
  return verify({});
}

// Trust nothing the calls above said: read the credentials back.
Status PrivilegeDrop::verify(const std::vector<Capability>& caps) const {
  if (options_.user.empty()) return {};  // -j alone: root stays root (documented)
  uid_t r = 0, e = 0, s = 0;
  gid_t rg = 0, eg = 0, sg = 0;
  ::getresuid(&r, &e, &s);
  ::getresgid(&rg, &eg, &sg);
  if (r != uid_ || e != uid_ || s != uid_ || rg != gid_ || eg != gid_ || sg != gid_) {
    return Status::internal("after the drop the process runs as uid " + std::to_string(e) + " gid " +
                            std::to_string(eg) + ", not " + std::to_string(uid_) + "/" + std::to_string(gid_));
  }
  if (uid_ != 0 && ::setuid(0) == 0) return Status::internal("after the drop setuid(0) still succeeds");
  cap_t have = ::cap_get_proc();
  if (have == nullptr) return errno_error("cap_get_proc");
  cap_t want = capabilities_of(caps);
  const bool same = want != nullptr && ::cap_compare(have, want) == 0;
  char* text = same ? nullptr : ::cap_to_text(have, nullptr);
  std::string have_text = text != nullptr ? text : "";
  if (text != nullptr) ::cap_free(text);
  ::cap_free(have);
  ::cap_free(want);
  if (!same && caps.empty()) return Status::internal("after the drop the process still has capabilities: " + have_text);
  if (!same) {
    return Status::internal("after the drop this thread holds the capabilities '" + have_text + "', not " +
                            names_of(caps) + " alone");
  }
  // The ambient set needs no check: the kernel keeps it within permitted and
  // inheritable, and the inheritable set is empty.
  if (bounding_limited_) {
    for (cap_value_t c = 0; c < ::cap_max_bits(); ++c) {
      if (!kept(options_.keep, c) && ::cap_get_bound(c) == 1) {
        return Status::internal("after the drop the bounding set still has " + cap_name(c));
      }
    }
  }
  return {};
}

std::string PrivilegeDrop::describe() const {
  std::string out;
  if (!options_.user.empty()) {
    out = "user " + options_.user + " (uid " + std::to_string(uid_) + ", gid " + std::to_string(gid_) + ", groups " +
          join_ids(groups_) + ")";
  }
  if (!options_.jail.empty()) out += (out.empty() ? "" : ", ") + std::string("chroot ") + options_.jail;
  if (keeps_capabilities()) out += ", keeping " + names_of(options_.keep);
  return out;
}

}  // namespace nib
