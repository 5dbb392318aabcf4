// safetensors-cli: sharded checkpoints (DESIGN §5 and §7). To paste into the anonymous
// namespace of examples/safetensors_cli.cpp after print_table(); it uses that file's helpers
// (st, exit_ok / exit_invalid / exit_usage, usage_error, report, printable, shape_text, pad,
// print_table, to_json) and the library's section 8. wip/cli_sharded.diff shows the wiring:
//
//   inspect PATH [--json]      PATH may be a directory or an index file (is_checkpoint_path)
//   validate PATH...           a checkpoint PATH runs checkpoint::verify and lists every problem
//   split IN OUTDIR [--max-shard-size SIZE] [--prefix NAME]
//   merge INDEX|DIR OUT
//
// Exit codes as everywhere: 0 valid, 1 invalid (first stderr line "error: <Name>: <detail>"),
// 2 usage errors and files that cannot be opened.

/// True when `path` names a checkpoint rather than one safetensors file: a directory or a
/// `.json` index.
bool is_checkpoint_path(const std::string& path) {
  std::error_code ec;
  const std::filesystem::path p(path);
  return std::filesystem::is_directory(p, ec) || p.extension() == ".json";
}

/// "error: <Name>: '<path>': <detail>" for one verify problem.
void report_problem(const std::string& path, const st::error& e) {
  std::cerr << "error: " << e.name() << ": '" << path << "': " << e.message() << "\n";
}

/// The index metadata as one line of compact JSON (strings are valid UTF-8: parsed).
std::string json_line(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

int inspect_checkpoint(const std::string& path, bool json) {
  st::checkpoint_options options;
  options.access = st::shard_access::reader;  // headers only: nothing is mapped
  auto ckpt = st::checkpoint::open(path, options);
  if (!ckpt) return report(ckpt.error());
  if (!ckpt->sharded()) {  // a directory with one model.safetensors: the file's own output
    auto shard = ckpt->shard(0);
    if (!shard) return report(shard.error());
    if (json) {
      std::cout << to_json(shard->header()).dump() << "\n";
    } else {
      print_table(std::filesystem::path(shard->path()).string(), shard->header());
    }
    return exit_ok;
  }
  std::vector<st::shard_view> shards;
  for (std::size_t i = 0; i < ckpt->shard_count(); ++i) {
    auto s = ckpt->shard(i);
    if (!s) return report(s.error());
    shards.push_back(*s);
  }
  const auto& index = ckpt->index();
  if (json) {
    nlohmann::ordered_json out;
    out["index"] = ckpt->index_path().string();
    out["metadata"] = index.metadata;
    if (const auto total = index.total_size()) {
      out["total_size"] = *total;
    } else {
      out["total_size"] = nullptr;
    }
    nlohmann::ordered_json files = nlohmann::ordered_json::array();
    for (const auto& s : shards) {
      const st::header& h = s.header();
      nlohmann::ordered_json md = nullptr;
      if (h.metadata()) {
        md = nlohmann::ordered_json::object();
        for (const auto& [key, value] : *h.metadata()) md[key] = value;
      }
      files.push_back({{"file", s.file_name()},
                       {"header_size", h.header_size()},
                       {"file_size", h.file_size()},
                       {"metadata", std::move(md)}});
    }
    out["shards"] = std::move(files);
    nlohmann::ordered_json tensors = nlohmann::ordered_json::array();
    for (const auto& e : ckpt->entries()) {
      auto t = shards[e.shard].header().find(e.name);
      if (!t) {
        return report(st::error(st::errc::tensor_not_found,
                                "tensor '" + printable(e.name) + "' is listed in shard '" +
                                    printable(shards[e.shard].file_name()) +
                                    "', which does not hold it"));
      }
      nlohmann::ordered_json shape = nlohmann::ordered_json::array();
      for (const std::uint64_t d : t->shape()) shape.push_back(d);
      tensors.push_back({{"name", e.name},
                         {"dtype", std::string(st::to_string(t->dtype()))},
                         {"shape", std::move(shape)},
                         {"data_offsets", {t->offsets().begin, t->offsets().end}},
                         {"shard", shards[e.shard].file_name()}});
    }
    out["tensors"] = std::move(tensors);
    std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return exit_ok;
  }
  std::uint64_t bytes = 0;
  std::vector<std::array<std::string, 5>> rows;
  rows.push_back({"name", "dtype", "shape", "bytes", "shard"});
  for (const auto& e : ckpt->entries()) {
    auto t = shards[e.shard].header().find(e.name);
    if (!t) {
      return report(st::error(st::errc::tensor_not_found,
                              "tensor '" + printable(e.name) + "' is listed in shard '" +
                                  printable(shards[e.shard].file_name()) +
                                  "', which does not hold it"));
    }
    bytes += t->byte_size();
    rows.push_back({printable(e.name), std::string(st::to_string(t->dtype())),
                    shape_text(t->shape()), std::to_string(t->byte_size()),
                    printable(shards[e.shard].file_name())});
  }
  std::cout << "index:    " << ckpt->index_path().string() << "\n"
            << "shards:   " << shards.size() << "\n"
            << "tensors:  " << ckpt->size() << " (" << bytes << " bytes";
  if (const auto total = index.total_size()) std::cout << "; total_size " << *total;
  std::cout << ")\n";
  if (!index.metadata.is_object()) {
    std::cout << "metadata: none\n";
  } else {
    std::cout << "metadata: " << index.metadata.size()
              << (index.metadata.size() == 1 ? " key\n" : " keys\n");
    for (const auto& [key, value] : index.metadata.items()) {
      std::cout << "  " << printable(key) << ": " << printable(json_line(value)) << "\n";
    }
  }
  for (const auto& s : shards) {
    const st::header& h = s.header();
    std::cout << "  " << printable(s.file_name()) << ": " << h.size()
              << (h.size() == 1 ? " tensor, " : " tensors, ") << h.file_size() << " bytes\n";
  }
  std::array<std::size_t, 5> width{};
  for (const auto& row : rows) {
    for (std::size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  }
  std::cout << "\n";
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t c = 0; c < row.size(); ++c) {
      line += c + 1 == row.size() ? row[c] : pad(row[c], width[c] + 2);
    }
    std::cout << line << "\n";
  }
  return exit_ok;
}

int validate_checkpoint(const std::string& path) {
  st::checkpoint_options options;
  options.access = st::shard_access::reader;
  auto ckpt = st::checkpoint::open(path, options);
  if (!ckpt) return report(ckpt.error());
  const st::verify_report r = ckpt->verify();
  if (!r.ok()) {
    for (const auto& e : r.problems) report_problem(path, e);
    return exit_invalid;
  }
  std::cout << path << ": OK (" << r.tensor_count << (r.tensor_count == 1 ? " tensor, " : " tensors, ")
            << r.tensor_bytes << " bytes in " << r.shards_opened
            << (r.shards_opened == 1 ? " file)\n" : " shards)\n");
  return exit_ok;
}

int split_command(const std::vector<std::string>& args) {
  std::vector<std::string> positional;
  st::sharded_write_options options;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--max-shard-size" || a == "--prefix") {
      if (i + 1 == args.size()) return usage_error("split: " + a + " needs a value");
      const std::string& value = args[++i];
      if (a == "--prefix") {
        options.prefix = value;
        continue;
      }
      auto size = st::parse_size(value);
      if (!size) return usage_error("split: " + size.error().message());
      options.max_shard_size = *size;
    } else if (!a.empty() && a[0] == '-') {
      return usage_error("split: unknown option " + a);
    } else {
      positional.push_back(a);
    }
  }
  if (positional.size() != 2) return usage_error("split takes IN and OUTDIR");
  const std::string& in = positional[0];
  const std::filesystem::path out(positional[1]);

  // The tensors in the input's order (offset order for a file), read through pread as the
  // shards are written: memory stays bounded. The input's __metadata__ goes into every shard
  // as it is, so that merge gives back the same bytes.
  std::vector<st::tensor_spec> specs;
  std::optional<st::source_reader> reader;
  std::optional<st::checkpoint> ckpt;
  if (is_checkpoint_path(in)) {
    st::checkpoint_options co;
    co.access = st::shard_access::reader;
    auto c = st::checkpoint::open(in, co);
    if (!c) return report(c.error());
    ckpt.emplace(std::move(*c));
    auto s = ckpt->specs();
    if (!s) return report(s.error());
    specs = std::move(*s);
    auto md = ckpt->merged_metadata();
    if (!md) return report(md.error());
    options.shard_metadata = std::move(*md);
  } else {
    auto r = st::open_reader(in);
    if (!r) return report(r.error());
    reader.emplace(std::move(*r));
    const st::source_reader* src = &*reader;
    for (const st::tensor_info t : src->header().tensors()) {
      st::tensor_spec spec;
      spec.name = std::string(t.name());
      spec.dtype = t.dtype();
      spec.shape.assign(t.shape().begin(), t.shape().end());
      const std::uint64_t base = src->header().data_offset() + t.offsets().begin;
      spec.producer = [src, base](std::uint64_t offset, st::span<std::byte> dst) {
        return src->source().read_at(base + offset, dst.data(), dst.size());
      };
      specs.push_back(std::move(spec));
    }
    options.shard_metadata = src->header().metadata();
  }
  std::error_code ec;
  std::filesystem::create_directories(out, ec);
  if (ec) {
    std::cerr << "error: IoError: cannot create directory '" << out.string() << "': " << ec.message()
              << "\n";
    return exit_usage;
  }
  auto layout = st::save_sharded(out, specs, options);
  if (!layout) return report(layout.error());
  std::cout << "wrote " << layout->shard_count()
            << (layout->shard_count() == 1 ? " file" : " shards") << " (" << specs.size()
            << (specs.size() == 1 ? " tensor, " : " tensors, ") << layout->total_size()
            << " bytes) to " << out.string() << "\n";
  for (const auto& name : layout->file_names()) std::cout << "  " << name << "\n";
  if (layout->sharded()) std::cout << "  " << options.prefix << ".safetensors.index.json\n";
  return exit_ok;
}

int merge_command(const std::vector<std::string>& args) {
  for (const auto& a : args) {
    if (!a.empty() && a[0] == '-') return usage_error("merge: unknown option " + a);
  }
  if (args.size() != 2) return usage_error("merge takes INDEX|DIR and OUT");
  st::checkpoint_options co;
  co.access = st::shard_access::reader;  // pread: bounded memory, nothing mapped
  auto ckpt = st::checkpoint::open(args[0], co);
  if (!ckpt) return report(ckpt.error());
  if (auto r = st::merge_checkpoint(*ckpt, args[1]); !r) return report(r.error());
  std::cout << "wrote " << args[1] << " (" << ckpt->size()
            << (ckpt->size() == 1 ? " tensor from " : " tensors from ") << ckpt->shard_count()
            << (ckpt->shard_count() == 1 ? " file)\n" : " shards)\n");
  return exit_ok;
}
