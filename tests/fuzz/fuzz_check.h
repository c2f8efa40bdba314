#pragma once

// What every fuzz target of tests/fuzz shares: the input as a string_view, and FUZZ_CHECK, which
// aborts with a message when a property of the code under test does not hold (libFuzzer saves
// the input as a crash; the replay tests fail).

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace clustertls::fuzz {

inline std::string_view AsView(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

[[noreturn]] inline void CheckFailed(const char* file, int line, const char* what,
                                     const std::string& detail) {
  std::fprintf(stderr, "%s:%d: FUZZ_CHECK(%s) failed: %s\n", file, line, what, detail.c_str());
  std::abort();
}

}  // namespace clustertls::fuzz

#define FUZZ_CHECK(cond, detail)                                            \
  do {                                                                      \
    if (!(cond)) {                                                          \
      ::clustertls::fuzz::CheckFailed(__FILE__, __LINE__, #cond, (detail)); \
    }                                                                       \
  } while (0)
