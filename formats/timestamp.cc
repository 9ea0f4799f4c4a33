#include "formats/timestamp.h"

#include <algorithm>

#include <chrono>

namespace eventflow::timestamp {

namespace chr = std::chrono;

int64_t NowMs() {
  return chr::duration_cast<chr::milliseconds>(chr::system_clock::now().time_since_epoch()).count();
}

namespace {
void Put(char* dst, unsigned value, int width) {
  for (int i = width - 1; i >= 0; --i) {
    dst[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
}

bool Digits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}
}  // namespace

void FormatTo(int64_t ms, char* dst) {
  ms = std::clamp(ms, kMinMs, kMaxMs);
  const chr::sys_time<chr::milliseconds> tp{chr::milliseconds(ms)};
  const auto day = chr::floor<chr::days>(tp);
  const chr::year_month_day ymd{day};
  const chr::hh_mm_ss<chr::milliseconds> hms{tp - day};
  Put(dst, static_cast<unsigned>(static_cast<int>(ymd.year())), 4);
  dst[4] = '-';
  Put(dst + 5, static_cast<unsigned>(ymd.month()), 2);
  dst[7] = '-';
  Put(dst + 8, static_cast<unsigned>(ymd.day()), 2);
  dst[10] = 'T';
  Put(dst + 11, static_cast<unsigned>(hms.hours().count()), 2);
  dst[13] = ':';
  Put(dst + 14, static_cast<unsigned>(hms.minutes().count()), 2);
  dst[16] = ':';
  Put(dst + 17, static_cast<unsigned>(hms.seconds().count()), 2);
  dst[19] = '.';
  Put(dst + 20, static_cast<unsigned>(hms.subseconds().count()), 3);
  dst[23] = 'Z';
}

std::string Format(int64_t ms) {
  std::string s(kFormattedSize, '\0');
  FormatTo(ms, s.data());
  return s;
}

std::optional<int64_t> Parse(std::string_view s) {
  int y, mo, d, h, mi, sec;
  if (!Digits(s, 0, 4, &y) || s.size() < 20 || s[4] != '-' || !Digits(s, 5, 2, &mo) ||
      s[7] != '-' || !Digits(s, 8, 2, &d) || (s[10] != 'T' && s[10] != 't') ||
      !Digits(s, 11, 2, &h) || s[13] != ':' || !Digits(s, 14, 2, &mi) || s[16] != ':' ||
      !Digits(s, 17, 2, &sec)) {
    return std::nullopt;
  }
  const chr::year_month_day ymd{chr::year(y), chr::month(static_cast<unsigned>(mo)),
                                chr::day(static_cast<unsigned>(d))};
  if (!ymd.ok() || h > 23 || mi > 59 || sec > 60) return std::nullopt;
  size_t pos = 19;
  int64_t millis = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    const size_t start = pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (pos - start < 3) millis = millis * 10 + (s[pos] - '0');
      ++pos;
    }
    if (pos == start) return std::nullopt;
    for (size_t n = pos - start; n < 3; ++n) millis *= 10;
  }
  int64_t offset_s = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh, om;
    if (!Digits(s, pos + 1, 2, &oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !Digits(s, pos + 4, 2, &om) || oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset_s = (oh * 3600 + om * 60) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  const int64_t days = chr::sys_days(ymd).time_since_epoch().count();
  const int64_t secs = days * 86400 + h * 3600 + mi * 60 + std::min(sec, 59) - offset_s;
  const int64_t ms = secs * 1000 + millis;
  if (ms < kMinMs || ms > kMaxMs) return std::nullopt;
  return ms;
}

}  // namespace eventflow::timestamp
