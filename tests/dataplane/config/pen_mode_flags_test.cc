// Pen's mode flags and their precedence (Pen's initial_server()).
#include "dataplane/config/pen_mode_flags.h"

#include <gtest/gtest.h>

namespace nib {
namespace {

PenModeFlags flags(std::initializer_list<const char*> words) {
  PenModeFlags f;
  for (const char* w : words) EXPECT_TRUE(f.set(w, true)) << w;
  return f;
}

TEST(PenModeFlagsTest, PrioOverWeightOverHashOverRoundrobin) {
  EXPECT_EQ(flags({}).mode(), BalanceMode::kAffinity);
  EXPECT_EQ(flags({"roundrobin"}).mode(), BalanceMode::kRoundRobin);
  EXPECT_EQ(flags({"hash", "roundrobin"}).mode(), BalanceMode::kHash);
  EXPECT_EQ(flags({"roundrobin", "hash"}).mode(), BalanceMode::kHash);
  EXPECT_EQ(flags({"hash", "weight"}).mode(), BalanceMode::kWeight);
  EXPECT_EQ(flags({"weight", "hash"}).mode(), BalanceMode::kWeight);
  EXPECT_EQ(flags({"prio", "weight", "hash", "roundrobin"}).mode(), BalanceMode::kPrio);
}

TEST(PenModeFlagsTest, ClearingAFlagUncoversTheNextOne) {
  PenModeFlags f = flags({"hash", "weight"});
  f.set("weight", false);
  EXPECT_EQ(f.mode(), BalanceMode::kHash);
  f.set("prio", false);  // not set: nothing changes
  EXPECT_EQ(f.mode(), BalanceMode::kHash);
  f.set("hash", false);
  EXPECT_EQ(f.mode(), BalanceMode::kAffinity);
  EXPECT_FALSE(f.set("stubborn", true)) << "not a mode flag";
}

TEST(PenModeFlagsTest, FromAModeAndPensModeLine) {
  for (BalanceMode m : {BalanceMode::kAffinity, BalanceMode::kRoundRobin, BalanceMode::kHash, BalanceMode::kWeight,
                        BalanceMode::kPrio}) {
    EXPECT_EQ(PenModeFlags::from(m).mode(), m);
  }
  EXPECT_EQ(PenModeFlags::from(BalanceMode::kAffinity).describe(false),
            "no hash no roundrobin no stubborn no weight no prio");
  EXPECT_EQ(flags({"hash", "roundrobin", "prio"}).describe(true), "hash roundrobin stubborn no weight prio");
}

}  // namespace
}  // namespace nib
