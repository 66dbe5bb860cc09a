// gguf_edit IN OUT KEY=TYPE:VALUE...: a copy of a GGUF file with metadata set or dropped,
// tensors kept. Writes the malformed models the bad-input tests feed to ponder.
//   TYPE: u32, i32, u64, f32, str, bool (true/false), drop (VALUE ignored)

#include <ggml.h>
#include <gguf.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

namespace {

int fail(const std::string& message) {
  std::fprintf(stderr, "gguf_edit: %s\n", message.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return fail("usage: gguf_edit IN OUT KEY=TYPE:VALUE...");
  ggml_context* data = nullptr;
  std::unique_ptr<gguf_context, decltype(&gguf_free)> in(gguf_init_from_file(argv[1], {false, &data}),
                                                         gguf_free);
  std::unique_ptr<ggml_context, decltype(&ggml_free)> tensors(data, ggml_free);
  if (!in) return fail(std::string("cannot read ") + argv[1]);
  std::unique_ptr<gguf_context, decltype(&gguf_free)> out(gguf_init_empty(), gguf_free);
  gguf_set_kv(out.get(), in.get());
  for (int i = 3; i < argc; ++i) {
    const std::string edit = argv[i];
    const size_t eq = edit.find('='), colon = edit.find(':', eq);
    if (eq == std::string::npos || colon == std::string::npos)
      return fail("expected KEY=TYPE:VALUE, got " + edit);
    const std::string key = edit.substr(0, eq), type = edit.substr(eq + 1, colon - eq - 1),
                      value = edit.substr(colon + 1);
    if (type == "u32") {
      gguf_set_val_u32(out.get(), key.c_str(), uint32_t(std::strtoul(value.c_str(), nullptr, 10)));
    } else if (type == "i32") {
      gguf_set_val_i32(out.get(), key.c_str(), int32_t(std::strtol(value.c_str(), nullptr, 10)));
    } else if (type == "u64") {
      gguf_set_val_u64(out.get(), key.c_str(), std::strtoull(value.c_str(), nullptr, 10));
    } else if (type == "f32") {
      gguf_set_val_f32(out.get(), key.c_str(), std::strtof(value.c_str(), nullptr));
    } else if (type == "str") {
      gguf_set_val_str(out.get(), key.c_str(), value.c_str());
    } else if (type == "bool") {
      gguf_set_val_bool(out.get(), key.c_str(), value == "true");
    } else if (type == "drop") {
      gguf_remove_key(out.get(), key.c_str());
    } else {
      return fail("unknown type " + type + " (u32, i32, u64, f32, str, bool, drop)");
    }
  }
  for (int64_t i = 0; i < gguf_get_n_tensors(in.get()); ++i) {
    gguf_add_tensor(out.get(), ggml_get_tensor(data, gguf_get_tensor_name(in.get(), i)));
  }
  if (!gguf_write_to_file(out.get(), argv[2], false)) return fail(std::string("cannot write ") + argv[2]);
  return 0;
}
