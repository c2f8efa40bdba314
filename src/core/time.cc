#include "core/time.h"

#include <cctype>
#include <charconv>
#include <cstdio>
#include <limits>

namespace clustertls::core {

TimePoint SystemClock::Now() const {
  return std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
}

namespace {

bool ParseInt(std::string_view s, int& out) {
  if (s.empty()) {
    return false;
  }
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

Result<TimePoint> ParseTime(std::string_view text) {
  auto bad = [&]() -> Result<TimePoint> {
    return Fail(ErrorCode::kInvalidArgument,
                "invalid time '" + std::string(text) +
                    "' (expected YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or @UNIXSECONDS)");
  };
  if (!text.empty() && text[0] == '@') {
    long long secs = 0;
    auto [p, ec] = std::from_chars(text.data() + 1, text.data() + text.size(), secs);
    if (ec != std::errc() || p != text.data() + text.size()) {
      return bad();
    }
    return TimePoint(std::chrono::seconds(secs));
  }
  if (text.size() < 10 || text[4] != '-' || text[7] != '-') {
    return bad();
  }
  int y, mo, d;
  if (!ParseInt(text.substr(0, 4), y) || !ParseInt(text.substr(5, 2), mo) ||
      !ParseInt(text.substr(8, 2), d)) {
    return bad();
  }
  std::chrono::year_month_day ymd{std::chrono::year(y), std::chrono::month(mo),
                                  std::chrono::day(d)};
  if (!ymd.ok()) {
    return bad();
  }
  TimePoint t = std::chrono::sys_days(ymd);
  std::string_view rest = text.substr(10);
  if (rest.empty()) {
    return t;
  }
  if ((rest[0] != 'T' && rest[0] != 't' && rest[0] != ' ') || rest.size() < 9 || rest[3] != ':' ||
      rest[6] != ':') {
    return bad();
  }
  int hh, mm, ss;
  if (!ParseInt(rest.substr(1, 2), hh) || !ParseInt(rest.substr(4, 2), mm) ||
      !ParseInt(rest.substr(7, 2), ss) || hh > 23 || mm > 59 || ss > 60) {
    return bad();
  }
  t += std::chrono::hours(hh) + std::chrono::minutes(mm) + std::chrono::seconds(ss);
  rest = rest.substr(9);
  if (!rest.empty() && rest[0] == '.') {
    std::size_t i = 1;
    while (i < rest.size() && rest[i] >= '0' && rest[i] <= '9') {
      ++i;
    }
    if (i == 1) {
      return bad();
    }
    rest = rest.substr(i);
  }
  if (rest == "Z" || rest == "z") {
    return t;
  }
  if (rest.size() == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':') {
    int oh, om;
    if (!ParseInt(rest.substr(1, 2), oh) || !ParseInt(rest.substr(4, 2), om) || oh > 23 ||
        om > 59) {
      return bad();
    }
    auto offset = std::chrono::hours(oh) + std::chrono::minutes(om);
    return rest[0] == '+' ? t - offset : t + offset;
  }
  return bad();
}

std::string FormatTime(TimePoint t) {
  auto days = std::chrono::floor<std::chrono::days>(t);
  std::chrono::year_month_day ymd(days);
  std::chrono::hh_mm_ss hms(t - days);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02dZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()));
  return buf;
}

Result<std::chrono::seconds> ParseDuration(std::string_view text) {
  auto bad = [&] {
    return Fail(ErrorCode::kInvalidArgument,
                "duration '" + std::string(text.substr(0, 40)) +
                    "': expected a positive number and a unit s, m, h, d or w (e.g. 90s, 1h, 30d)");
  };
  std::int64_t unit = 1;
  std::string_view digits = text;
  if (!digits.empty() && !std::isdigit(static_cast<unsigned char>(digits.back()))) {
    switch (digits.back()) {
      case 's':
        unit = 1;
        break;
      case 'm':
        unit = 60;
        break;
      case 'h':
        unit = 3600;
        break;
      case 'd':
        unit = 86400;
        break;
      case 'w':
        unit = 7 * 86400;
        break;
      default:
        return bad();
    }
    digits.remove_suffix(1);
  }
  if (digits.empty() || digits.size() > 12) {
    return bad();
  }
  std::int64_t value = 0;
  for (char c : digits) {
    if (!std::isdigit(static_cast<unsigned char>(c))) {
      return bad();
    }
    value = value * 10 + (c - '0');
  }
  if (value == 0 || value > std::numeric_limits<std::int64_t>::max() / unit / 1000) {
    return bad();
  }
  return std::chrono::seconds(value * unit);
}

std::string FormatDuration(std::chrono::seconds d) {
  long long s = d.count();
  const char* sign = s < 0 ? "-" : "";
  if (s < 0) {
    s = -s;
  }
  // Appends to a std::string rather than `const char* + std::string`, which GCC 12 at -O3
  // flags with a false -Wrestrict (GCC bug 105651).
  auto plural = [sign](long long n, const char* unit) {
    std::string out(sign);
    out += std::to_string(n);
    out += ' ';
    out += unit;
    if (n != 1) {
      out += 's';
    }
    return out;
  };
  if (s >= 86400) {
    return plural(s / 86400, "day");
  }
  if (s >= 3600) {
    return plural(s / 3600, "hour");
  }
  if (s >= 60) {
    return plural(s / 60, "minute");
  }
  return plural(s, "second");
}

}  // namespace clustertls::core
