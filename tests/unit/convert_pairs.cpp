// Conversions between float dtypes in load() (docs/loading.md#conversions,
// docs/dtypes.md#between-float-dtypes): every pattern of every 4-, 6-, 8- and 16-bit float dtype to
// every target, and F32 and F64 values at and around every rounding boundary of every target, must
// give encode_B(decode_A(x)) rounded once: the value of the source pattern, rounded to nearest even
// in the target, with its overflow and NaN rules. Each conversion runs through load() from a mapped
// file (the source at an odd address) and from a reader, into destinations at odd addresses, in
// small and large chunks, on every SIMD path this CPU can run.
//
// The expected patterns come from a reference written here from the formats' definitions
// (sign, exponent, mantissa, bias, special values), in double arithmetic with an explicit
// round-to-nearest-even; never from the library's decoders or encoders.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <safetensors/safetensors.hpp>
#include <string>
#include <vector>

#include "test_writer.hpp"

#if SAFETENSORS_SIMD_X86
#include <xmmintrin.h>  // _mm_getcsr / _mm_setcsr
#endif

namespace {
namespace st = safetensors;

// --- the reference -----------------------------------------------------------------------------

enum class rule {
  ieee,  // all-ones exponent: infinity (mantissa 0) or NaN
  fn,    // no infinities; all-ones exponent and mantissa is NaN (F8_E4M3)
  fnuz,  // no infinities, no -0; the sign bit alone is the one NaN
  none,  // every pattern is a number (F4, F6)
  e8m0,  // unsigned power of two 2^(code - 127); 0xFF is NaN
};

struct format {
  const char* name;
  int e;     // exponent bits
  int m;     // mantissa bits
  int bias;  // exponent bias
  rule r;
  int width() const { return r == rule::e8m0 ? 8 : 1 + e + m; }
  st::dtype dtype() const { return *st::dtype_from_string(name); }
};

const format f64_fmt{"F64", 11, 52, 1023, rule::ieee};
const format f32_fmt{"F32", 8, 23, 127, rule::ieee};
const format f16_fmt{"F16", 5, 10, 15, rule::ieee};
const format bf16_fmt{"BF16", 8, 7, 127, rule::ieee};
const format e4m3_fmt{"F8_E4M3", 4, 3, 7, rule::fn};
const format e5m2_fmt{"F8_E5M2", 5, 2, 15, rule::ieee};
const format e4m3fnuz_fmt{"F8_E4M3FNUZ", 4, 3, 8, rule::fnuz};
const format e5m2fnuz_fmt{"F8_E5M2FNUZ", 5, 2, 16, rule::fnuz};
const format e8m0_fmt{"F8_E8M0", 8, 0, 127, rule::e8m0};
const format f4_fmt{"F4", 2, 1, 1, rule::none};
const format f6_e2m3_fmt{"F6_E2M3", 2, 3, 1, rule::none};
const format f6_e3m2_fmt{"F6_E3M2", 3, 2, 3, rule::none};

// The targets load() converts every float dtype to (docs/dtypes.md#between-float-dtypes).
const format* const targets[] = {&f64_fmt,  &f32_fmt,  &f16_fmt,      &bf16_fmt,
                                 &e4m3_fmt, &e5m2_fmt, &e4m3fnuz_fmt, &e5m2fnuz_fmt};
// The sources whose every pattern is tried.
const format* const small_sources[] = {&f16_fmt,      &bf16_fmt,     &e4m3_fmt, &e5m2_fmt,
                                       &e4m3fnuz_fmt, &e5m2fnuz_fmt, &e8m0_fmt, &f4_fmt,
                                       &f6_e2m3_fmt,  &f6_e3m2_fmt};

// What a conversion sees of a pattern: a number (every value of these formats is a double), or
// a NaN with its sign and payload (the mantissa bits, left-aligned in 52 bits).
struct value {
  bool nan = false;
  bool neg = false;
  double v = 0;
  std::uint64_t payload = 0;
};

constexpr std::uint64_t quiet_payload = std::uint64_t{1} << 51;

// The value of `code` in format f. NaNs as the docs state the decoders keep them: the IEEE-style
// formats keep sign and payload bit for bit; F8_E4M3's NaN keeps its sign only, the FNUZ and
// E8M0 NaNs are positive; those three carry just the quiet bit.
value decode(const format& f, std::uint64_t code) {
  value x;
  if (f.r == rule::e8m0) {
    if (code == 0xFF) {
      x.nan = true;
      x.payload = quiet_payload;
    } else {
      x.v = std::ldexp(1.0, static_cast<int>(code) - 127);
    }
    return x;
  }
  const int w = f.width();
  x.neg = ((code >> (w - 1)) & 1u) != 0;
  const auto ex = static_cast<int>((code >> f.m) & ((std::uint64_t{1} << f.e) - 1));
  const std::uint64_t man = code & ((std::uint64_t{1} << f.m) - 1);
  const int ex_all = (1 << f.e) - 1;
  const std::uint64_t man_all = (std::uint64_t{1} << f.m) - 1;
  const double inf = std::numeric_limits<double>::infinity();
  switch (f.r) {
    case rule::ieee:
      if (ex == ex_all) {
        if (man == 0) {
          x.v = x.neg ? -inf : inf;
        } else {
          x.nan = true;
          x.payload = man << (52 - f.m);
        }
        return x;
      }
      break;
    case rule::fn:
      if (ex == ex_all && man == man_all) {
        x.nan = true;
        x.payload = quiet_payload;
        return x;
      }
      break;
    case rule::fnuz:
      if (x.neg && ex == 0 && man == 0) {
        x.nan = true;
        x.neg = false;
        x.payload = quiet_payload;
        return x;
      }
      break;
    case rule::none:
    case rule::e8m0:
      break;
  }
  // (2^m + man) * 2^(ex - bias - m), or man * 2^(1 - bias - m) for subnormals: exact in double.
  const double mag =
      ex == 0 ? std::ldexp(static_cast<double>(man), 1 - f.bias - f.m)
              : std::ldexp(static_cast<double>((std::uint64_t{1} << f.m) + man), ex - f.bias - f.m);
  x.v = x.neg ? -mag : mag;
  return x;
}

double max_finite(const format& f) {
  const int ex_all = (1 << f.e) - 1;
  const std::uint64_t man_all = (std::uint64_t{1} << f.m) - 1;
  int ex = ex_all;
  std::uint64_t man = man_all;
  if (f.r == rule::ieee) ex = ex_all - 1;
  if (f.r == rule::fn) man = man_all - 1;
  return std::ldexp(static_cast<double>((std::uint64_t{1} << f.m) + man), ex - f.bias - f.m);
}

std::uint64_t sign_bit(const format& f) { return std::uint64_t{1} << (f.width() - 1); }

// What overflow (and an infinite input) becomes: infinity where the format has one, else its NaN
// (non-saturating, as load() converts).
std::uint64_t overflow_code(const format& f, bool neg) {
  const std::uint64_t s = neg ? sign_bit(f) : 0;
  if (f.r == rule::ieee) return s | (((std::uint64_t{1} << f.e) - 1) << f.m);
  if (f.r == rule::fn) return s | (sign_bit(f) - 1);
  return sign_bit(f);  // FNUZ: the one NaN
}

// x in target t, rounded once to nearest even. `from_f64`: F64 -> F32, which the docs say
// quiets a NaN (the other sources' NaNs keep their bits in F32, which holds their payloads).
std::uint64_t encode(const format& t, const value& x, bool from_f64) {
  const std::uint64_t s = x.neg ? sign_bit(t) : 0;
  const std::uint64_t exp_field = ((std::uint64_t{1} << t.e) - 1) << t.m;
  if (x.nan) {
    if (t.r == rule::fnuz) return sign_bit(t);
    if (t.r == rule::fn) return s | (sign_bit(t) - 1);
    if (t.m < 7) return s | (sign_bit(t) - 1);  // F8_E5M2: S.11111.11
    std::uint64_t man = x.payload >> (52 - t.m);
    // F16 and BF16 set the quiet bit; F32 and F64 keep the bits, but for F64 -> F32.
    if (t.m < 23 || (t.m == 23 && from_f64)) man |= std::uint64_t{1} << (t.m - 1);
    return s | exp_field | man;
  }
  const double a = std::fabs(x.v);
  if (std::isinf(a)) return overflow_code(t, x.neg);
  const std::uint64_t zero = t.r == rule::fnuz ? 0 : s;
  if (a == 0) return zero;
  // The binade of a (subnormals share the lowest one), a in units of its ulp (exact: a power of
  // two scaling), rounded to nearest, ties to the even multiple.
  int e2 = 0;
  (void)std::frexp(a, &e2);  // a = f * 2^e2, f in [0.5, 1)
  const int q = std::max(e2 - 1, 1 - t.bias);
  const double k = std::ldexp(a, t.m - q);
  double r = std::floor(k);
  const double frac = k - r;
  if (frac > 0.5 || (frac == 0.5 && std::fmod(r, 2.0) != 0)) r += 1;
  if (std::ldexp(r, q - t.m) > max_finite(t)) return overflow_code(t, x.neg);
  if (r == 0) return zero;
  const auto ri = static_cast<std::uint64_t>(r);
  const std::uint64_t lead = std::uint64_t{1} << t.m;
  if (ri < lead) return s | ri;  // subnormal (q is the lowest binade)
  if (ri == 2 * lead) return s | (static_cast<std::uint64_t>(q + 1 + t.bias) << t.m);
  return s | (static_cast<std::uint64_t>(q + t.bias) << t.m) | (ri - lead);
}

// The reference conversion of pattern `code` of `from` to `to`.
std::uint64_t convert(const format& from, std::uint64_t code, const format& to) {
  if (&from == &to) return code;
  if (&to == &f64_fmt) {  // exact: the value's double
    const value x = decode(from, code);
    if (x.nan) {
      return (x.neg ? std::uint64_t{1} << 63 : 0) | (std::uint64_t{0x7FF} << 52) | x.payload;
    }
    std::uint64_t bits = 0;
    std::memcpy(&bits, &x.v, sizeof bits);
    return bits;
  }
  return encode(to, decode(from, code), &from == &f64_fmt);
}

std::string hex(std::uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llX", static_cast<unsigned long long>(v));
  return buf;
}

// --- bytes --------------------------------------------------------------------------------------

// Patterns as the file stores them: little-endian, sub-byte dtypes packed as a bit stream
// (docs/dtypes.md#sub-byte-packing).
std::vector<std::uint8_t> pack(const format& f, const std::vector<std::uint64_t>& codes) {
  const auto bits = static_cast<std::size_t>(f.width());
  std::vector<std::uint8_t> out((codes.size() * bits + 7) / 8);
  for (std::size_t i = 0; i < codes.size(); ++i) {
    for (std::size_t k = 0; k < bits; ++k) {
      const std::size_t bit = i * bits + k;
      if ((codes[i] >> k) & 1u)
        out[bit / 8] = static_cast<std::uint8_t>(out[bit / 8] | 1u << (bit % 8));
    }
  }
  return out;
}

// What load() delivers in dtype `to` for these patterns: F32 and F64 as the host's float and
// double, the other dtypes little-endian.
std::vector<std::byte> delivered(const format& to, const std::vector<std::uint64_t>& codes) {
  const std::size_t width = static_cast<std::size_t>(to.width()) / 8;
  std::vector<std::byte> out(codes.size() * width);
  for (std::size_t i = 0; i < codes.size(); ++i) {
    if (&to == &f32_fmt) {
      const auto u = static_cast<std::uint32_t>(codes[i]);
      float f = 0;
      std::memcpy(&f, &u, 4);
      std::memcpy(out.data() + 4 * i, &f, 4);
    } else if (&to == &f64_fmt) {
      double d = 0;
      std::memcpy(&d, &codes[i], 8);
      std::memcpy(out.data() + 8 * i, &d, 8);
    } else {
      for (std::size_t k = 0; k < width; ++k) {
        out[i * width + k] = static_cast<std::byte>((codes[i] >> (8 * k)) & 0xFFu);
      }
    }
  }
  return out;
}

// Reads element i back from delivered bytes, for the failure message.
std::uint64_t element(const format& to, const std::byte* p, std::size_t i) {
  const std::size_t width = static_cast<std::size_t>(to.width()) / 8;
  std::uint64_t v = 0;
  if (&to == &f32_fmt) {
    float f = 0;
    std::uint32_t u = 0;
    std::memcpy(&f, p + 4 * i, 4);
    std::memcpy(&u, &f, 4);
    return u;
  }
  if (&to == &f64_fmt) {
    std::memcpy(&v, p + 8 * i, 8);
    return v;
  }
  for (std::size_t k = 0; k < width; ++k) {
    v |= static_cast<std::uint64_t>(std::to_integer<std::uint8_t>(p[i * width + k])) << (8 * k);
  }
  return v;
}

// One source tensor: its format and patterns.
struct source {
  const format* f;
  std::vector<std::uint64_t> codes;
};

// How check_all_pairs runs the loads.
struct run_options {
  // Every conversion path the CPU can run (SIMD decoders, F16 encoder), or the best one (for
  // sources that do not go through them).
  bool every_path = true;
  // The smaller chunk size (the larger is 64 KiB).
  std::size_t small_chunk = 24;
};

// Loads every source to every target (one request per pair, all in one load() call) from a file
// whose tensors sit at odd offsets, into destinations at odd addresses, and checks each result
// against the reference, from a mapping and a reader, in small chunks and in chunks of 64 KiB
// (more than 1,024 elements each).
void check_all_pairs(const std::vector<source>& sources, const run_options& run = {}) {
  // The expected bytes of every pair.
  struct pair {
    std::size_t src;
    const format* to;
    std::vector<std::byte> want;
  };
  std::vector<pair> pairs;
  for (std::size_t s = 0; s < sources.size(); ++s) {
    for (const format* t : targets) {
      if (t == sources[s].f) continue;
      REQUIRE(st::can_convert(sources[s].f->dtype(), t->dtype()));
      std::vector<std::uint64_t> want;
      want.reserve(sources[s].codes.size());
      for (const std::uint64_t c : sources[s].codes) want.push_back(convert(*sources[s].f, c, *t));
      pairs.push_back({s, t, delivered(*t, want)});
    }
  }
  // A file of one odd-sized U8 tensor, then the sources (even sizes): all at odd offsets.
  std::vector<st_test::tensor_spec> specs{{"pad", "U8", {1}, {0}}};
  for (std::size_t s = 0; s < sources.size(); ++s) {
    specs.push_back({"s" + std::to_string(s),
                     sources[s].f->name,
                     {static_cast<std::uint64_t>(sources[s].codes.size())},
                     pack(*sources[s].f, sources[s].codes)});
    REQUIRE(specs.back().data.size() % 2 == 0);
  }
  std::vector<std::uint8_t> file;
  for (std::uint64_t pad = 1; pad <= 2;
       ++pad) {  // the pad that puts the first source at an odd offset
    specs[0].shape = {pad};
    specs[0].data.assign(static_cast<std::size_t>(pad), 0);
    file = st_test::make_file(specs, std::nullopt, 1);
    const auto parsed = st::parse(st::as_bytes(file)).value();
    if (parsed.header().data_offset() % 2 != pad % 2) break;
  }
  st_test::temp_dir dir;
  const auto path = dir.file("pairs.safetensors");
  st_test::write_file(path, file);
  const auto mapped = st::mapped_file::open(path).value();
  const auto reader = st::source_reader::open(path).value();
  for (std::size_t s = 0; s < sources.size(); ++s) {
    REQUIRE(reinterpret_cast<std::uintptr_t>(mapped.tensor("s" + std::to_string(s))->data()) % 2 ==
            1);
  }
  // One arena; each destination at 8k + 1.
  std::vector<std::size_t> at;
  std::size_t arena_size = 0;
  for (const pair& p : pairs) {
    at.push_back(arena_size + 1);
    arena_size += (p.want.size() + 1 + 7) / 8 * 8 + 8;
  }
  std::vector<std::byte> arena(arena_size);
  std::vector<st::load_request> requests;
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    requests.push_back({"s" + std::to_string(pairs[i].src),
                        st::span<std::byte>(arena.data() + at[i], pairs[i].want.size()),
                        {},
                        pairs[i].to->dtype()});
    REQUIRE(st::load_size(*reader.find(requests.back().name), requests.back()).value() ==
            pairs[i].want.size());
  }
  const st::detail::convert_path paths[] = {
      st::detail::convert_path::scalar, st::detail::convert_path::avx2,
      st::detail::convert_path::avx512, st::detail::convert_path::neon};
  for (const auto path_kind : paths) {
    if (!run.every_path && path_kind != st::detail::best_convert_path()) continue;
    if (!st::detail::force_convert_path(path_kind)) continue;
    for (const std::size_t chunk : {run.small_chunk, std::size_t{64} << 10}) {
      for (const bool use_map : {true, false}) {
        CAPTURE(st::detail::convert_path_name(path_kind));
        CAPTURE(chunk);
        CAPTURE(use_map);
        std::fill(arena.begin(), arena.end(), std::byte{0xA5});
        st::load_options opt;
        opt.threads = 2;
        opt.chunk_bytes = chunk;
        REQUIRE((use_map ? st::load(mapped, requests, opt) : st::load(reader, requests, opt)));
        for (std::size_t i = 0; i < pairs.size(); ++i) {
          const pair& p = pairs[i];
          const std::byte* got = arena.data() + at[i];
          CHECK(got[-1] == std::byte{0xA5});  // nothing written around the destination
          CHECK(got[p.want.size()] == std::byte{0xA5});
          if (std::memcmp(got, p.want.data(), p.want.size()) == 0) continue;
          const format& from = *sources[p.src].f;
          const std::size_t n = sources[p.src].codes.size();
          int reported = 0;
          for (std::size_t e = 0; e < n && reported < 5; ++e) {
            const std::uint64_t g = element(*p.to, got, e);
            const std::uint64_t w = element(*p.to, p.want.data(), e);
            if (g == w) continue;
            ++reported;
            INFO(std::string(from.name)
                 << " " << hex(sources[p.src].codes[e]) << " -> " << std::string(p.to->name)
                 << ": got " << hex(g) << ", want " << hex(w) << " (element " << e << ")");
            CHECK(g == w);
          }
        }
      }
    }
  }
  st::detail::force_convert_path(st::detail::best_convert_path());
}

// Every pattern of f, `copies` times, copy j starting at pattern j (so that each pattern takes
// several positions in a vector and a chunk).
std::vector<std::uint64_t> all_patterns(const format& f, std::size_t copies) {
  const std::uint64_t count = std::uint64_t{1} << f.width();
  std::vector<std::uint64_t> codes;
  for (std::size_t j = 0; j < copies; ++j) {
    for (std::uint64_t c = 0; c < count; ++c) codes.push_back((c + j) % count);
  }
  return codes;
}

// F32 or F64 patterns at and around every rounding boundary of every target: each midpoint
// between neighbouring values (and above the largest finite one) and the source's next values
// either side, every target value, zeros, infinities, NaNs with payloads, the source's extremes,
// and random patterns.
std::vector<std::uint64_t> boundary_patterns(const format& src) {
  const bool f64 = &src == &f64_fmt;
  std::vector<double> values;
  for (const format* t : targets) {
    if (t->width() > 16) continue;
    const std::uint64_t count = std::uint64_t{1} << t->width();
    std::vector<double> finite;
    for (std::uint64_t c = 0; c < count; ++c) {
      const value x = decode(*t, c);
      if (!x.nan && std::isfinite(x.v) && x.v >= 0) finite.push_back(x.v);
    }
    std::sort(finite.begin(), finite.end());
    finite.erase(std::unique(finite.begin(), finite.end()), finite.end());
    // The step above the largest finite value, as if the exponent range went on.
    const double top = finite.back();
    finite.push_back(top + (top - finite[finite.size() - 2]));
    for (std::size_t i = 0; i + 1 < finite.size(); ++i) {
      values.push_back(finite[i]);
      values.push_back((finite[i] + finite[i + 1]) / 2);  // exact in double
    }
  }
  std::vector<std::uint64_t> codes;
  const double dinf = std::numeric_limits<double>::infinity();
  const float finf = std::numeric_limits<float>::infinity();
  const auto add = [&](double v) {
    for (const double s : {v, -v}) {
      if (f64) {
        std::uint64_t u = 0;
        std::memcpy(&u, &s, 8);
        codes.push_back(u);
        for (const double n : {std::nextafter(s, -dinf), std::nextafter(s, dinf)}) {
          std::memcpy(&u, &n, 8);
          codes.push_back(u);
        }
      } else {
        const auto f = static_cast<float>(s);
        if (static_cast<double>(f) != s) continue;  // not a float: F32 cannot hold it
        std::uint32_t u = 0;
        std::memcpy(&u, &f, 4);
        codes.push_back(u);
        for (const float n : {std::nextafter(f, -finf), std::nextafter(f, finf)}) {
          std::memcpy(&u, &n, 4);
          codes.push_back(u);
        }
      }
    }
  };
  for (const double v : values) add(v);
  const std::uint64_t sign = sign_bit(src);
  const std::uint64_t exp_field = sign - (std::uint64_t{1} << src.m);  // all-ones exponent
  const std::uint64_t man_all = (std::uint64_t{1} << src.m) - 1;
  for (const std::uint64_t special :
       {std::uint64_t{0}, exp_field, exp_field | 1, exp_field | (man_all >> 1),
        exp_field | (std::uint64_t{1} << (src.m - 1)), exp_field | man_all, std::uint64_t{1},
        man_all, exp_field - 1, std::uint64_t{1} << src.m}) {
    codes.push_back(special);
    codes.push_back(special | sign);
  }
  std::mt19937_64 rng(f64 ? 64 : 32);
  for (int i = 0; i < 20000; ++i) {
    codes.push_back(f64 ? rng() : rng() & 0xFFFFFFFFu);
  }
  // F64 values near F32's rounding boundaries (F64 -> F32): random floats' midpoints, +-1 ulp.
  if (f64) {
    for (int i = 0; i < 20000; ++i) {
      std::uint32_t u = static_cast<std::uint32_t>(rng()) & 0x7F7FFFFFu;
      float a = 0;
      std::memcpy(&a, &u, 4);
      const float b = std::nextafter(a, finf);
      add((static_cast<double>(a) + static_cast<double>(b)) / 2);
    }
  }
  // A whole number of groups of 8 elements.
  while (codes.size() % 8 != 0) codes.push_back(0);
  return codes;
}

// Every pattern of every 4- to 16-bit float dtype: the 16-bit ones once (65,536 elements), the
// narrower ones in 8 to 64 rotated copies.
std::vector<source> small_sources_all() {
  std::vector<source> sources;
  for (const format* f : small_sources) {
    const std::size_t copies = f->width() == 16 ? 1 : f->width() == 8 ? 8 : 64;
    sources.push_back({f, all_patterns(*f, copies)});
  }
  return sources;
}

std::vector<source> boundary_sources() {
  return {{&f32_fmt, boundary_patterns(f32_fmt)}, {&f64_fmt, boundary_patterns(f64_fmt)}};
}

}  // namespace

TEST_SUITE("convert") {
  TEST_CASE("every pattern of every 4- to 16-bit float dtype to every float target, in load()") {
    check_all_pairs(small_sources_all());
  }

  TEST_CASE("F32 and F64 at and around every rounding boundary of every target, in load()") {
    check_all_pairs(boundary_sources(), {false, 4096});
  }

  TEST_CASE("flush-to-zero, denormals-are-zero and default-NaN modes change nothing") {
    // The small dtypes on every path (the SIMD decoders and the F16 encoder), F32 (subnormals to
    // F64 and to F16). F64 to the narrow dtypes is integer arithmetic only, and F64 to F32 is the
    // hardware's conversion, which these modes change (docs/dtypes.md#between-float-dtypes).
#if SAFETENSORS_SIMD_X86
    const unsigned saved = _mm_getcsr();
    _mm_setcsr(saved | 0x8040u);  // FTZ (bit 15) and DAZ (bit 6)
    check_all_pairs(small_sources_all(), {true, 24});
    check_all_pairs({{&f32_fmt, boundary_patterns(f32_fmt)}}, {false, 4096});
    _mm_setcsr(saved);
#elif SAFETENSORS_SIMD_NEON && (defined(__GNUC__) || defined(__clang__))
    std::uint64_t saved = 0;
    __asm__ volatile("mrs %0, fpcr" : "=r"(saved));
    // DN (25): default NaN; FZ (24) and FZ16 (19): flush to zero.
    __asm__ volatile("msr fpcr, %0" : : "r"(saved | (1u << 25) | (1u << 24) | (1u << 19)));
    check_all_pairs(small_sources_all(), {true, 24});
    check_all_pairs({{&f32_fmt, boundary_patterns(f32_fmt)}}, {false, 4096});
    __asm__ volatile("msr fpcr, %0" : : "r"(saved));
#else
    MESSAGE("no floating-point mode to set in this build");
#endif
  }

  TEST_CASE("the reference, by hand-checked examples: rounding once, overflow, NaN, zeros") {
    // Anchors of the reference above, worked out by hand (so that it cannot drift with the
    // library, which the other cases compare with it).
    // F64 -> F16 rounds once: 1 + 2^-11 + 2^-40 is just above the midpoint between 1 and
    // 1 + 2^-10, so it rounds up; through F32 it would first become the midpoint, then 1.
    const double just_above = 1.0 + std::ldexp(1.0, -11) + std::ldexp(1.0, -40);
    std::uint64_t bits = 0;
    std::memcpy(&bits, &just_above, 8);
    CHECK(convert(f64_fmt, bits, f16_fmt) == 0x3C01);
    CHECK(convert(f64_fmt, bits, bf16_fmt) == 0x3F80);
    CHECK(convert(bf16_fmt, 0x477F, f16_fmt) == 0x7BF8);     // 65280 is an F16
    CHECK(convert(bf16_fmt, 0x4780, f16_fmt) == 0x7C00);     // 65536 overflows to infinity
    CHECK(convert(bf16_fmt, 0x7F80, e4m3_fmt) == 0x7F);      // infinity: NaN, no saturation
    CHECK(convert(f16_fmt, 0x5F40, e4m3_fmt) == 0x7E);       // 464 ties to 448 (even mantissa)
    CHECK(convert(f16_fmt, 0x5F80, e4m3_fmt) == 0x7F);       // 480 overflows: NaN
    CHECK(convert(f16_fmt, 0xFC00, e4m3fnuz_fmt) == 0x80);   // -inf: the FNUZ NaN
    CHECK(convert(f16_fmt, 0x8000, e4m3fnuz_fmt) == 0x00);   // -0: FNUZ has only +0
    CHECK(convert(f16_fmt, 0x8001, e5m2_fmt) == 0x80);       // -2^-24 rounds to -0
    CHECK(convert(f16_fmt, 0x7C01, bf16_fmt) == 0x7FC0);     // a signalling NaN comes out quiet
    CHECK(convert(f16_fmt, 0x7C01, f32_fmt) == 0x7F802000);  // F32 keeps it as it is
    CHECK(convert(f16_fmt, 0xFC01, f64_fmt) == 0xFFF0040000000000);
    CHECK(convert(e4m3_fmt, 0xFF, bf16_fmt) == 0xFFC0);  // E4M3's NaN keeps its sign
    CHECK(convert(e5m2fnuz_fmt, 0x80, f16_fmt) == 0x7E00);
    CHECK(convert(e8m0_fmt, 0x00, f16_fmt) == 0x0000);  // 2^-127 underflows
    CHECK(convert(e8m0_fmt, 0x8E, f16_fmt) == 0x7800);  // 2^15
    CHECK(convert(e8m0_fmt, 0x8F, f16_fmt) == 0x7C00);  // 2^16 overflows
  }

  TEST_CASE("can_convert: the table of docs/dtypes.md#between-float-dtypes, all 22 x 22 pairs") {
    // Rows: from; columns: to, in dtype order (BOOL F4 F6_E2M3 F6_E3M2 U8 I8 F8_E5M2 F8_E4M3
    // F8_E8M0 F8_E4M3FNUZ F8_E5M2FNUZ I16 U16 F16 BF16 I32 U32 F32 C64 F64 I64 U64).
    // 'x': load() converts. Every dtype but C64 to F32; every float dtype (F4 to F64) to F64,
    // F32, F16, BF16, F8_E4M3, F8_E5M2, F8_E4M3FNUZ and F8_E5M2FNUZ; each dtype to itself.
    const char* const table[22] = {
        //       B 4 6 6 U I 5 4 8 4 5 I U F B I U F C F I U
        /*BOOL*/ "x................x....",
        /*F4  */ ".x....xx.xx..xx..x.x..",
        /*F6a */ "..x...xx.xx..xx..x.x..",
        /*F6b */ "...x..xx.xx..xx..x.x..",
        /*U8  */ "....x............x....",
        /*I8  */ ".....x...........x....",
        /*E5M2*/ "......xx.xx..xx..x.x..",
        /*E4M3*/ "......xx.xx..xx..x.x..",
        /*E8M0*/ "......xxxxx..xx..x.x..",
        /*E4FZ*/ "......xx.xx..xx..x.x..",
        /*E5FZ*/ "......xx.xx..xx..x.x..",
        /*I16 */ "...........x.....x....",
        /*U16 */ "............x....x....",
        /*F16 */ "......xx.xx..xx..x.x..",
        /*BF16*/ "......xx.xx..xx..x.x..",
        /*I32 */ "...............x.x....",
        /*U32 */ "................xx....",
        /*F32 */ "......xx.xx..xx..x.x..",
        /*C64 */ "..................x...",
        /*F64 */ "......xx.xx..xx..x.x..",
        /*I64 */ ".................x..x.",
        /*U64 */ ".................x...x",
    };
    for (std::size_t from = 0; from < 22; ++from) {
      for (std::size_t to = 0; to < 22; ++to) {
        const auto a = static_cast<st::dtype>(from);
        const auto b = static_cast<st::dtype>(to);
        INFO(st::to_string(a) << " -> " << st::to_string(b));
        CHECK(st::can_convert(a, b) == (table[from][to] == 'x'));
      }
    }
  }
}
