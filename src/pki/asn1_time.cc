#include "pki/asn1_time.h"

#include <chrono>
#include <ctime>

#include "ossl/error.h"

namespace clustertls::pki::internal {

core::TimePoint ToTimePoint(const ASN1_TIME* t) {
  std::tm tm{};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) {
    ossl::ClearErrors();
    return core::TimePoint{};
  }
  using namespace std::chrono;
  auto day = sys_days{year{tm.tm_year + 1900} / month{static_cast<unsigned>(tm.tm_mon + 1)} /
                      std::chrono::day{static_cast<unsigned>(tm.tm_mday)}};
  return core::TimePoint{day} + hours{tm.tm_hour} + minutes{tm.tm_min} + seconds{tm.tm_sec};
}

}  // namespace clustertls::pki::internal
