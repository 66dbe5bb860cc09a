#include "ponder/speculative.h"

#include <stdexcept>

namespace ponder {

namespace {
struct MethodName {
  SpeculativeMethod method;
  const char* name;
};
constexpr MethodName kMethods[] = {
    {SpeculativeMethod::draft, "draft"},
    {SpeculativeMethod::lookup, "lookup"},
    {SpeculativeMethod::lookahead, "lookahead"},
    {SpeculativeMethod::off, "off"},
};

void require(bool ok, const char* field, const std::string& allowed) {
  if (!ok) throw std::invalid_argument(std::string("SpeculativeOptions.") + field + ": must be " + allowed);
}
}  // namespace

const char* speculative_method_name(SpeculativeMethod method) {
  for (const auto& m : kMethods) {
    if (m.method == method) return m.name;
  }
  return "unknown";
}

SpeculativeMethod parse_speculative_method(std::string_view name) {
  for (const auto& m : kMethods) {
    if (name == m.name) return m.method;
  }
  throw std::invalid_argument("unknown speculative method '" + std::string(name) +
                              "' (known: draft, lookup, lookahead, off)");
}

void SpeculativeOptions::validate() const {
  require(max_draft >= 1 && max_draft <= 32, "max_draft", "in [1, 32]");
  require(lookup_max_ngram >= 1 && lookup_max_ngram <= 16, "lookup_max_ngram", "in [1, 16]");
  require(trie_max_nodes >= 1024, "trie_max_nodes", ">= 1024");
  require(lookahead_branches >= 1 && lookahead_branches <= 8, "lookahead_branches", "in [1, 8]");
  require(method != SpeculativeMethod::draft || draft_model != nullptr, "draft_model",
          "a model with method draft (--draft MODEL)");
}

void check_same_vocabulary(const Model& target, const Model& draft) {
  if (target.n_vocab() != draft.n_vocab()) {
    throw std::invalid_argument("the draft model " + draft.path() + " has " + std::to_string(draft.n_vocab()) +
                                " tokens, the target " + target.path() + " has " + std::to_string(target.n_vocab()) +
                                ": a draft model needs the target's vocabulary");
  }
  for (Token t = 0; t < target.n_vocab(); ++t) {
    if (target.token_piece(t) != draft.token_piece(t)) {
      throw std::invalid_argument("the draft model " + draft.path() + " and the target " + target.path() +
                                  " differ at token " + std::to_string(t) + " ('" + draft.token_piece(t) +
                                  "' vs '" + target.token_piece(t) + "'): a draft model needs the target's vocabulary");
    }
  }
}

}  // namespace ponder
