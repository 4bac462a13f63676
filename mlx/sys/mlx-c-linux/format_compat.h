// llm-telemetry: a stand-in for the `std::format("... {} ...", args...)` calls of mlx-c 0.7.0's
// `mlx/c/private/io.h` (GCC 12, Debian 12's compiler, has no <format>). scripts/setup-mlx.sh
// includes this header there and renames the calls to `mlx_c_compat::format`. Only the plain
// `{}` placeholder is supported, which is all io.h uses.

#ifndef MLX_C_COMPAT_FORMAT_H
#define MLX_C_COMPAT_FORMAT_H

#include <sstream>
#include <string>
#include <string_view>

namespace mlx_c_compat {

inline void format_into(std::ostringstream& out, std::string_view pattern) {
  out << pattern;
}

template <typename First, typename... Rest>
void format_into(
    std::ostringstream& out,
    std::string_view pattern,
    const First& first,
    const Rest&... rest) {
  auto at = pattern.find("{}");
  if (at == std::string_view::npos) {
    out << pattern;
    return;
  }
  out << pattern.substr(0, at) << first;
  format_into(out, pattern.substr(at + 2), rest...);
}

template <typename... Args>
std::string format(std::string_view pattern, const Args&... args) {
  std::ostringstream out;
  format_into(out, pattern, args...);
  return out.str();
}

} // namespace mlx_c_compat

#endif
