#include "net/static_files.hpp"

#include "net/http_request.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vector>

namespace craft::http {

namespace {

std::string_view content_type_for(std::string_view path) {
  auto dot = path.rfind('.');
  auto ext = dot == std::string_view::npos ? std::string_view{} : path.substr(dot + 1);
  if (ext == "html") return "text/html; charset=utf-8";
  if (ext == "js" || ext == "mjs") return "text/javascript; charset=utf-8";
  if (ext == "css") return "text/css; charset=utf-8";
  if (ext == "json" || ext == "map") return "application/json";
  if (ext == "png") return "image/png";
  if (ext == "svg") return "image/svg+xml";
  if (ext == "wasm") return "application/wasm";
  return "application/octet-stream";
}

// Closes a descriptor on every way out.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd& operator=(Fd&& o) noexcept {
    std::swap(fd, o.fd);
    return *this;
  }
};

std::string not_found() { return response(404, "Not Found", "text/plain", "not found\n"); }

// Opens directory `name` inside `dir`, refusing a symlink (O_NOFOLLOW) or a non-directory.
int open_dir_at(int dir, const std::string& name) {
  return ::openat(dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

}  // namespace

std::string serve_static(const std::string& root, std::string_view target, size_t max_body_bytes) {
  auto q = target.find('?');
  std::string_view path = target.substr(0, q);
  for (unsigned char c : target) {
    if (c <= 0x20 || c >= 0x7f) return not_found();  // also keeps the Location header clean
  }
  if (root.empty() || path.empty() || path.front() != '/') return not_found();

  std::vector<std::string> parts;
  for (size_t pos = 1; pos <= path.size();) {
    auto slash = path.find('/', pos);
    if (slash == std::string_view::npos) slash = path.size();
    auto part = path.substr(pos, slash - pos);
    if (!part.empty()) {
      if (part.front() == '.') return not_found();  // ".", "..", dotfiles (.git, .env)
      parts.emplace_back(part);
    }
    pos = slash + 1;
  }
  const bool wants_directory = path.back() == '/';

  // The root itself is the operator's choice and may be a symlink; below it nothing may be.
  Fd dir(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.fd < 0) return not_found();
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    Fd next(open_dir_at(dir.fd, parts[i]));
    if (next.fd < 0) return not_found();
    dir = std::move(next);
  }
  std::string name = "index.html";
  if (!parts.empty()) {
    struct stat st {};
    if (::fstatat(dir.fd, parts.back().c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return not_found();
    if (S_ISDIR(st.st_mode)) {
      if (!wants_directory) {
        std::string location = std::string(path) + "/" + std::string(q == std::string_view::npos ? "" : target.substr(q));
        return response(301, "Moved Permanently", "text/plain", "moved to " + location + "\n", false,
                        "Location: " + location + "\r\n");
      }
      Fd next(open_dir_at(dir.fd, parts.back()));
      if (next.fd < 0) return not_found();
      dir = std::move(next);
    } else if (wants_directory) {
      return not_found();
    } else {
      name = parts.back();
    }
  }

  struct stat st {};
  if (::fstatat(dir.fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) return not_found();
  // O_NONBLOCK and the fstat below: should the file be swapped for a FIFO after the check,
  // the open still does not wait and nothing is read from it.
  Fd file(::openat(dir.fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (file.fd < 0 || ::fstat(file.fd, &st) != 0 || !S_ISREG(st.st_mode)) return not_found();
  if (static_cast<unsigned long long>(st.st_size) > max_body_bytes) {
    return response(500, "Internal Server Error", "text/plain",
                    "file larger than limits.send_queue_bytes allows\n");
  }
  std::string body(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < body.size()) {
    auto n = ::read(file.fd, body.data() + got, body.size() - got);
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  body.resize(got);  // a file that shrank meanwhile
  return response(200, "OK", content_type_for(name), body);
}

}  // namespace craft::http
