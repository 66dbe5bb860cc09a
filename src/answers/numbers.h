#pragma once
// The number normaliser: exact reduced rationals with a digit-string fallback past 128 bits.

#include <optional>
#include <string>
#include <string_view>

namespace ponder::answers {

// The canonical key of `text` when it is one number, else nullopt. `text` is already tidied
// by the normaliser (lower case, "$" and LaTeX wrappers gone, no blank next to punctuation).
//
//   text   := [words ("=" | ":")] number ["%"] [" " unit words]
//   number := ["-" | "+"] (decimal ["/" decimal] | \frac{number}{number} | \frac D D)
//   decimal:= digits [. digits] | . digits, digits either plain or "1,234,567" groups
//
// Keys are "n" or "n/d" with d > 1, reduced, "-" only when negative ("-0" -> "0"). When a value
// does not fit 128 bits the key is the canonical digits instead ("0012.50" -> "12.5", and
// "a/b" unreduced), so equal values spelled differently may then differ.
std::optional<std::string> number_key(std::string_view text);

}  // namespace ponder::answers
