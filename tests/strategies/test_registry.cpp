// The strategy registry: every budget given in a name is in range, a budget given twice
// must agree, and the names help texts show come from the same table.

#include <gtest/gtest.h>

#include <stdexcept>

#include "ponder/strategy.h"

namespace ponder {
namespace {

std::string error_of(std::string_view spec, int budget = 0) {
  try {
    make_strategy(spec, {}, budget);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

TEST(Registry, BudgetsInNamesAreInRange) {
  for (const char* spec : {"vote@0", "adaptive-vote@0", "adaptive-vote@-3", "esc@0", "esc@-1", "rpc@1025",
                           "prune@99999999999", "sample@+2", "best-of-n@"}) {
    const std::string error = error_of(spec);
    EXPECT_NE(error.find("[1, 1024]"), std::string::npos) << spec << ": " << error;
  }
  EXPECT_EQ(make_strategy("adaptive-vote@1")->budget(), 1);
  EXPECT_EQ(make_strategy("esc@1024")->budget(), 1024);
}

TEST(Registry, ABudgetGivenTwiceMustAgree) {
  EXPECT_NE(error_of("vote@8", 3).find("given twice (@8 and --budget 3)"), std::string::npos)
      << error_of("vote@8", 3);
  EXPECT_NE(error_of("adaptive-vote@8", 4).find("given twice"), std::string::npos);
  EXPECT_EQ(make_strategy("vote@8", {}, 8)->budget(), 8);
  EXPECT_EQ(make_strategy("vote", {}, 3)->budget(), 3);
  EXPECT_EQ(make_strategy("esc", {}, 5)->budget(), 5);
  EXPECT_EQ(make_strategy("esc")->budget(), 16);
  EXPECT_NE(error_of("greedy", 3).find("takes no budget"), std::string::npos);
  EXPECT_EQ(make_strategy("greedy", {}, 1)->budget(), 1);
  EXPECT_EQ(make_strategy("greedy@1")->budget(), 1);
  EXPECT_NE(error_of("vote", -2).find("budget: must be in"), std::string::npos) << error_of("vote", -2);
  EXPECT_NE(error_of("vote", 5000).find("budget: must be in"), std::string::npos);
}

TEST(Registry, HelpListsEveryStrategyOnce) {
  const auto& names = strategy_names();
  const auto& help = strategy_help();
  ASSERT_EQ(names.size(), help.size());
  for (size_t i = 0; i < names.size(); ++i) {
    EXPECT_EQ(names[i], help[i].pattern);
    EXPECT_FALSE(help[i].about.empty()) << names[i];
    // Every listed name builds: N and MAX replaced by a budget.
    std::string spec = names[i];
    spec = spec.substr(0, spec.find_first_of("@["));
    EXPECT_NO_THROW(make_strategy(spec, {}, spec == "greedy" ? 0 : 4)) << spec;
  }
  EXPECT_NE(error_of("telepathy@2").find("known: greedy, sample@N"), std::string::npos)
      << error_of("telepathy@2");
}

}  // namespace
}  // namespace ponder
