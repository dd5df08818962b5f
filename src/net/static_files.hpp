// Files under server.static_dir. Nothing outside the directory and nothing but a regular
// file is ever opened: each path component is opened relative to its parent with
// O_NOFOLLOW (a symlink anywhere fails), and the last one only after fstatat says it is
// a regular file (a FIFO, device or socket is never opened, so never blocks a shard).
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace craft::http {

// The whole response to GET `target` (path plus query) under `root`:
// - 200 with the file (a path ending in '/' means its index.html);
// - 301 to "<path>/" (query kept) for a directory named without its slash;
// - 404 for anything else: missing, a symlink or a non-regular file anywhere on the way,
//   a component starting with '.', bytes outside printable ASCII;
// - 500 for a file above `max_body_bytes` (it would not fit limits.send_queue_bytes).
std::string serve_static(const std::string& root, std::string_view target, size_t max_body_bytes);

}  // namespace craft::http
