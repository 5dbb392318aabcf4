#!/usr/bin/env python3
"""Mutation pass over the header parts (docs/security.md#mutation-testing).

Each mutant is one realistic bug (a boundary, an off-by-one, a dropped check, a wrong rounding)
planted in one part: the runner copies include/ to a scratch directory, replaces the mutant's
text once in the part, builds the unit test files that cover the part (tests/unit/<name>.cpp,
with tests/unit/main.cpp) or, for "@durability", tests/crash/durability.cpp, against the copy,
and runs them. A mutant is caught when the build's tests fail; a survivor needs a new test.
Nothing in the worktree changes. Slow (one build per mutant): not part of CTest.

  python3 tests/mutation/run_mutants.py [NAME ...]      every mutant, or the ones named
  CXX=clang++ python3 tests/mutation/run_mutants.py B1   another compiler

A mutant whose text is not found (the code changed since) is reported as "not applied".
"""
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# (name, part, text, replacement, test files): the text must occur exactly once in the part.
MUTANTS = [
    ('B1', 'basics',
     '  if (a != 0 && b > u64_max / a) return false;',
     '  if (a != 0 && b > u64_max / a + 1) return false;',
     ['basics']),
    ('B2', 'basics',
     '  if (b > u64_max - a) return false;',
     '  if (b >= u64_max - a) return false;',
     ['basics']),
    ('B3', 'basics',
     '(c == 0xED && c1 > 0x9F)',
     '(c == 0xED && c1 > 0xA0)',
     ['basics', 'parse_rules', 'writer']),
    ('B4', 'basics',
     '    if (c >= 0xC2 && c <= 0xDF) {',
     '    if (c >= 0xC0 && c <= 0xDF) {',
     ['basics', 'parse_rules', 'writer']),
    ('PA1', 'parse',
     '    if (expected < input_size && !opts.allow_trailing_bytes) {',
     '    if (expected + 1 < input_size && !opts.allow_trailing_bytes) {',
     ['parse_rules', 'parse_differential']),
    ('PA2', 'parse',
     '      if (r.begin != start || r.end < r.begin) return offset_error(idx, previous, start);',
     '      if (r.begin > start || r.end < r.begin) return offset_error(idx, previous, start);',
     ['parse_rules']),
    ('PA3', 'parse',
     '    if (++depth_ > max_depth) {',
     '    if (++depth_ > max_depth + 1) {',
     ['parse_rules']),
    ('PA4', 'parse',
     '  if (n > opts.max_header_size || n > std::numeric_limits<std::size_t>::max()) {',
     '  if (n >= opts.max_header_size || n > std::numeric_limits<std::size_t>::max()) {',
     ['parse_rules']),
    ('T1', 'table',
     '    if (r.start > r.stop || r.stop > dims[d]) {',
     '    if (r.start > r.stop || r.stop > dims[d] + 1) {',
     ['table_slice']),
    ('T2', 'table',
     '  p.tensor_bytes_ = total_bits / 8 + (total_bits % 8 != 0 ? 1 : 0);',
     '  p.tensor_bytes_ = total_bits / 8;',
     ['table_slice']),
    ('T3', 'table',
     '      if (reinterpret_cast<std::uintptr_t>(data_) % alignof(T) != 0) return nullptr;',
     '      if (false) return nullptr;',
     ['table_typed']),
    ('T5', 'table',
     '    if (out.size() < size_) {',
     '    if (out.size() + 1 < size_) {',
     ['table_typed']),
    ('PL1', 'platform',
     "    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;",
     "    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z'))) return false;",
     ['writer_crash_cleanup']),
    ('PL2', 'platform',
     '  std::size_t keep = std::min<std::size_t>(target.size() - base, 200);',
     '  std::size_t keep = std::min<std::size_t>(target.size() - base, 250);',
     ['writer_crash_cleanup']),
    ('PL3', 'platform',
     '      return error(errc::io_error, "cannot read " + quote(shown) + " at offset " + num(offset) +\n                                       ": " + errno_message(errno));\n    }\n    if (got == 0) {',
     '      return error(errc::io_error, "cannot read " + quote(shown) + " at offset " + num(offset) +\n                                       ": " + errno_message(errno));\n    }\n    if (got == 0) {\n      return {};',
     ['reader_files']),
    ('D1', 'platform',
     '  if (::fsync(f.fd) != 0) {',
     '  if (false) {',
     ['@durability']),
    ('D2', 'platform',
     '    if (sync) sync_parent_dir(target_);',
     '',
     ['@durability']),
    ('D3', 'platform',
     '    (void)::fsync(fd);',
     '',
     ['@durability']),
    ('D4', 'platform',
     '  if (::rename(from.c_str(), to.c_str()) != 0) {',
     '  if (false) {',
     ['@durability']),
    ('R1', 'reader',
     '    if (offset > bytes_.size() || n > bytes_.size() - offset) {',
     '    if (offset > bytes_.size() || n > bytes_.size() - offset + 1) {',
     ['reader_files']),
    ('R2', 'reader',
     '    if (dst.size() < info.byte_size()) {',
     '    if (dst.size() + 1 < info.byte_size()) {',
     ['reader_files']),
    ('R3', 'reader',
     '    if (out.size() < plan->byte_size()) {',
     '    if (out.size() + 1 < plan->byte_size()) {',
     ['reader_files', 'table_slice']),
    ('W1', 'writer',
     '  if (align < 8 || align > 65536 || (align & (align - 1)) != 0) {',
     '  if (align < 2 || align > 65536 || (align & (align - 1)) != 0) {',
     ['writer']),
    ('W2', 'writer',
     '    if (c >= 0x20 && c != \'"\' && c != \'\\\\\') continue;',
     '    if (c >= 0x1F && c != \'"\' && c != \'\\\\\') continue;',
     ['writer']),
    ('W3', 'writer',
     '      if (chunk.size() > t.byte_size() - done) {',
     '      if (chunk.size() > t.byte_size() - done + 1) {',
     ['writer', 'writer_files']),
    ('W4', 'writer',
     '  const std::uint64_t padded = (unpadded + align - 1) / align * align;',
     '  const std::uint64_t padded = (unpadded + align) / align * align;',
     ['writer']),
    ('W5', 'writer',
     '  if (n > options.max_header_size) {',
     '  if (n >= options.max_header_size) {',
     ['writer']),
    ('I1', 'index',
     '  if (name == "." || name == "..") return std::string("names a directory, not a file");',
     '  if (name == ".") return std::string("names a directory, not a file");',
     ['sharded']),
    ('I2', 'index',
     '    if (c < 0x20 || c == 0x7f) return std::string("contains a control character");',
     '    if (c < 0x1f || c == 0x7f) return std::string("contains a control character");',
     ['sharded']),
    ('I3', 'index',
     '    if (depth_ >= index_max_depth) {',
     '    if (depth_ > index_max_depth) {',
     ['sharded']),
    ('I4', 'index',
     '    if (i > 0 && entries[i].first == entries[i - 1].first) {',
     '    if (false && i > 0 && entries[i].first == entries[i - 1].first) {',
     ['sharded']),
    ('SH1', 'sharded',
     '      if (current_size + (*sizes)[i] > options.max_shard_size) {',
     '      if (current_size + (*sizes)[i] >= options.max_shard_size) {',
     ['sharded']),
    ('SH2', 'sharded',
     '  return number[0] >= 1 && number[0] <= number[1];',
     '  return number[0] <= number[1];',
     ['sharded']),
    ('SH3', 'sharded',
     '      if ((*sizes)[i] > options.max_shard_size) {',
     '      if ((*sizes)[i] >= options.max_shard_size) {',
     ['sharded']),
    ('SH4', 'sharded',
     'complete && *total != report.tensor_bytes',
     'complete && *total > report.tensor_bytes',
     ['sharded']),
    ('D5', 'sharded',
     '  if (sync) sync_parent_dir(*native_index);  // no old index before any shard changes',
     '',
     ['@durability']),
    ('D6', 'sharded',
     '  if (sync) sync_parent_dir(*native_index);  // every shard in place before the index',
     '',
     ['@durability']),
    ('D7', 'sharded',
     '    if (auto r = index.replace(); !r) return r;\n    if (sync) sync_parent_dir(*native_index);',
     '    if (auto r = index.replace(); !r) return r;',
     ['@durability']),
    ('D8', 'sharded',
     '  for (std::size_t k = 0; k < layout.shard_count(); ++k) {\n    if (auto r = shard(k).replace(); !r) return r;\n  }\n  if (sync) sync_parent_dir(*native_index);  // every shard in place before the index\n  if (layout.sharded()) {\n    if (auto r = index.replace(); !r) return r;\n    if (sync) sync_parent_dir(*native_index);\n  }',
     '  if (layout.sharded()) {\n    if (auto r = index.replace(); !r) return r;\n    if (sync) sync_parent_dir(*native_index);\n  }\n  for (std::size_t k = 0; k < layout.shard_count(); ++k) {\n    if (auto r = shard(k).replace(); !r) return r;\n  }\n  if (sync) sync_parent_dir(*native_index);  // every shard in place before the index',
     ['@durability']),
    ('C1', 'convert',
     '  return static_cast<std::uint16_t>((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);',
     '  return static_cast<std::uint16_t>((u + 0x8000u) >> 16);',
     ['convert']),
    ('C2', 'convert',
     '    if (s > 24) {',
     '    if (s > 23) {',
     ['convert']),
    ('C3', 'convert',
     '  if (mag > max_finite) return overflowed();',
     '  if (mag > max_finite + 1) return overflowed();',
     ['convert']),
    ('C4', 'convert',
     '  out = bits / 8 + (bits % 8 != 0 ? 1 : 0);',
     '  out = bits / 8;',
     ['convert']),
    ('C5', 'convert',
     '  if (a > 0x7F800000u) {  // NaN',
     '  if (a >= 0x7F800000u) {  // NaN',
     ['convert']),
    ('L5', 'load',
     '    if (r.dst.size() < job.dst_bytes) {',
     '    if (r.dst.size() + 1 < job.dst_bytes) {',
     ['load']),
    ('L1', 'load',
     'if (std::less<const std::byte*>()(b.dst, a.dst + a.dst_bytes)) {',
     'if (std::less<const std::byte*>()(b.dst, a.dst + a.dst_bytes - 1)) {',
     ['load']),
    ('L2', 'load',
     'if (std::less<const std::byte*>()(b.dst, a.dst + a.dst_bytes)) {',
     'if (!std::less<const std::byte*>()(a.dst + a.dst_bytes, b.dst)) {',
     ['load']),
    ('L3', 'load',
     '    encode(floats, k, out + other_bytes(done));',
     '    encode(floats, k, out + other_bytes(done / 2));',
     ['load']),
    ('L4', 'load',
     '      decode(in + other_bytes(done), k, floats);',
     '      decode(in + other_bytes(done % 1024), k, floats);',
     ['load']),
]


def run(name, part, old, new, tests, cxx, work):
    inc = os.path.join(work, "include")
    shutil.copytree(os.path.join(ROOT, "include"), inc)
    path = os.path.join(inc, "safetensors", "parts", part + ".hpp")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if text.count(old) != 1:
        return "not applied (the text occurs %d times)" % text.count(old)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text.replace(old, new))
    if tests == ["@durability"]:
        sources, libs = [os.path.join(ROOT, "tests", "crash", "durability.cpp")], ["-ldl"]
    else:
        sources = [os.path.join(ROOT, "tests", "unit", t + ".cpp") for t in tests + ["main"]]
        libs = []
    exe = os.path.join(work, "tests")
    build = subprocess.run(
        [cxx, "-std=c++17", "-O1", "-w", "-I" + inc, "-I" + os.path.join(ROOT, "tests", "support"),
         '-DSAFETENSORS_TEST_TMPDIR="%s"' % work] + sources + ["-o", exe, "-pthread"] + libs,
        capture_output=True, text=True, errors="replace")
    if build.returncode != 0:
        return "caught by the compiler"
    try:
        r = subprocess.run([exe, "--abort-after=1"], capture_output=True, text=True,
                           errors="replace", timeout=900, cwd=work)
    except subprocess.TimeoutExpired:
        return "caught (timeout)"
    if r.returncode == 0:
        return "SURVIVED"
    failed = [l for l in r.stdout.splitlines() if l.startswith("TEST CASE:")]
    return "caught" + (" by " + failed[0][len("TEST CASE:"):].strip() if failed else "")


def main():
    cxx = os.environ.get("CXX", "g++")
    wanted = set(sys.argv[1:])
    survivors = 0
    for name, part, old, new, tests in MUTANTS:
        if wanted and name not in wanted:
            continue
        with tempfile.TemporaryDirectory(prefix="st-mutant-") as work:
            verdict = run(name, part, old, new, tests, cxx, work)
        survivors += verdict.startswith("SURVIVED")
        print("%-4s %-9s %s" % (name, part, verdict), flush=True)
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
