// The apply rules of design.md, row by row, against scripted ZooKeeper answers. The same rules run
// against real servers in tests/integration; here every answer, including the rare ones, can be
// forced.
#include "reconciler/apply_task.h"

#include <gtest/gtest.h>
#include <zookeeper/zookeeper.h>

namespace zkspool {
namespace {

constexpr int64_t kCurrent = 0x100;
constexpr int64_t kPrevious = 0x0ff;
constexpr int64_t kForeign = 0x777;

Intent PutIntent(NodeMode mode = NodeMode::kEphemeral, std::string data = "want") {
  Intent i;
  i.op = Op::kPut;
  i.path = "/svc/a/b";
  i.data = std::move(data);
  i.mode = mode;
  return i;
}

Intent DeleteIntent() {
  Intent i;
  i.op = Op::kDelete;
  i.path = "/svc/a/b";
  return i;
}

NodeState Node(int64_t owner, std::string data = "want", int32_t version = 3) { return {owner, version, std::move(data)}; }

class ApplyTaskTest : public ::testing::Test {
 protected:
  ApplyTaskTest() {
    ownership_.current_session = kCurrent;
    ownership_.previous_sessions = {kPrevious};
  }
  Ownership ownership_;
};

TEST_F(ApplyTaskTest, PutCreatedIsDone) {
  ApplyTask task(PutIntent(), &ownership_);
  EXPECT_EQ(task.Restart().kind, StepKind::kCreate);
  EXPECT_EQ(task.OnResult(ZOK).kind, StepKind::kDone);
}

TEST_F(ApplyTaskTest, PutExistsOursSameDataIsDoneWithoutWrites) {
  ApplyTask task(PutIntent(), &ownership_);
  task.Restart();
  EXPECT_EQ(task.OnResult(ZNODEEXISTS).kind, StepKind::kRead);
  EXPECT_EQ(task.OnRead(ZOK, Node(kCurrent)).kind, StepKind::kDone);

  ApplyTask persistent(PutIntent(NodeMode::kPersistent), &ownership_);
  persistent.Restart();
  persistent.OnResult(ZNODEEXISTS);
  EXPECT_EQ(persistent.OnRead(ZOK, Node(0)).kind, StepKind::kDone);
}

TEST_F(ApplyTaskTest, PutExistsOursOtherDataSetsDataAtTheReadVersion) {
  ApplyTask task(PutIntent(), &ownership_);
  task.Restart();
  task.OnResult(ZNODEEXISTS);
  Step set = task.OnRead(ZOK, Node(kCurrent, "old", 7));
  EXPECT_EQ(set.kind, StepKind::kSetData);
  EXPECT_EQ(set.version, 7);
  EXPECT_EQ(task.OnResult(ZBADVERSION).kind, StepKind::kRead);  // changed meanwhile: look again
  EXPECT_EQ(task.OnRead(ZOK, Node(kCurrent, "old", 8)).version, 8);
  EXPECT_EQ(task.OnResult(ZOK).kind, StepKind::kDone);
}

TEST_F(ApplyTaskTest, StaleEphemeralOfAPreviousSessionIsReplacedAtomically) {
  ApplyTask task(PutIntent(), &ownership_);
  task.Restart();
  task.OnResult(ZNODEEXISTS);
  Step replace = task.OnRead(ZOK, Node(kPrevious, "want", 4));
  EXPECT_EQ(replace.kind, StepKind::kReplace);  // same data is not enough: the owner must be us
  EXPECT_EQ(replace.version, 4);
  EXPECT_EQ(task.OnResult(ZNONODE).kind, StepKind::kRead);  // the server expired it meanwhile
  EXPECT_EQ(task.OnRead(ZNONODE, {}).kind, StepKind::kCreate);
  EXPECT_EQ(task.OnResult(ZOK).kind, StepKind::kDone);
}

TEST_F(ApplyTaskTest, ForeignNodesAreConflictsAndNeverTouched) {
  ApplyTask put(PutIntent(), &ownership_);
  put.Restart();
  put.OnResult(ZNODEEXISTS);
  Step conflict = put.OnRead(ZOK, Node(kForeign));
  EXPECT_EQ(conflict.kind, StepKind::kConflict);
  EXPECT_EQ(conflict.reason, "/svc/a/b is an ephemeral node of session 0x777, which is not ours");

  // A delete always looks first; another session's node is not ours to delete, and nothing of
  // ours is there: done at once, with a note, never retried forever.
  ApplyTask del(DeleteIntent(), &ownership_);
  EXPECT_EQ(del.Restart().kind, StepKind::kRead);
  Step left = del.OnRead(ZOK, Node(kForeign));
  EXPECT_EQ(left.kind, StepKind::kDone);
  EXPECT_EQ(left.reason,
            "/svc/a/b is an ephemeral node of session 0x777, which is not ours: left alone, nothing of ours was there "
            "to delete");

  ApplyTask over_persistent(PutIntent(NodeMode::kEphemeral), &ownership_);
  over_persistent.Restart();
  over_persistent.OnResult(ZNODEEXISTS);
  Step p = over_persistent.OnRead(ZOK, Node(0));
  EXPECT_EQ(p.kind, StepKind::kConflict);
  EXPECT_EQ(p.reason, "/svc/a/b is a persistent node; an ephemeral registration does not replace it");

  EXPECT_EQ(over_persistent.Restart().kind, StepKind::kCreate);  // after backoff it starts over
}

// Which ancestors to make is the pipeline's decision (it knows which exist and which have intents
// of their own); the task only says so and starts over with the create.
TEST_F(ApplyTaskTest, AMissingParentIsReportedThenTheCreateStartsOver) {
  ApplyTask task(PutIntent(), &ownership_);
  task.Restart();
  EXPECT_EQ(task.OnResult(ZNONODE).kind, StepKind::kParentMissing);
  EXPECT_EQ(task.Restart().kind, StepKind::kCreate);
  EXPECT_EQ(task.OnResult(ZOK).kind, StepKind::kDone);
}

TEST_F(ApplyTaskTest, DeleteRules) {
  ApplyTask gone(DeleteIntent(), &ownership_);
  gone.Restart();
  EXPECT_EQ(gone.OnRead(ZNONODE, {}).kind, StepKind::kDone);

  for (int64_t owner : {kCurrent, kPrevious, int64_t{0}}) {
    ApplyTask del(DeleteIntent(), &ownership_);
    del.Restart();
    Step step = del.OnRead(ZOK, Node(owner, "x", 9));
    ASSERT_EQ(step.kind, StepKind::kDelete) << owner;
    EXPECT_EQ(step.version, 9);
    EXPECT_EQ(del.OnResult(ZNONODE).kind, StepKind::kDone);  // deleted by expiry meanwhile
  }

  ApplyTask raced(DeleteIntent(), &ownership_);
  raced.Restart();
  raced.OnRead(ZOK, Node(kCurrent));
  EXPECT_EQ(raced.OnResult(ZBADVERSION).kind, StepKind::kRead);
}

TEST_F(ApplyTaskTest, UncertainOutcomesAreRetriedFromTheStart) {
  for (int rc : {ZCONNECTIONLOSS, ZOPERATIONTIMEOUT, ZSESSIONEXPIRED, ZCLOSING, ZINVALIDSTATE, ZRUNTIMEINCONSISTENCY,
                 ZDATAINCONSISTENCY}) {
    ApplyTask task(PutIntent(), &ownership_);
    task.Restart();
    EXPECT_EQ(task.OnResult(rc).kind, StepKind::kRetryLater) << rc;
    // After the reconnect: the create may have happened; the retry finds our node and is done.
    EXPECT_EQ(task.Restart().kind, StepKind::kCreate);
    EXPECT_EQ(task.OnResult(ZNODEEXISTS).kind, StepKind::kRead);
    EXPECT_EQ(task.OnRead(ZOK, Node(kCurrent)).kind, StepKind::kDone);
  }
}

TEST_F(ApplyTaskTest, NotAuthorizedWaitsLikeAConflictInsteadOfFailing) {
  ApplyTask task(PutIntent(), &ownership_);
  task.Restart();
  Step blocked = task.OnResult(ZNOAUTH);
  EXPECT_EQ(blocked.kind, StepKind::kConflict);
  EXPECT_NE(blocked.reason.find("check the digest credentials"), std::string::npos) << blocked.reason;
  EXPECT_EQ(task.Restart().kind, StepKind::kCreate) << "after the backoff it starts over";
}

TEST_F(ApplyTaskTest, PermanentErrorsFailWithAReason) {
  struct Case {
    int rc;
    const char* hint;
  };
  for (Case c : {Case{ZINVALIDACL, "creator-only ACL needs digest auth"},
                 Case{ZUNIMPLEMENTED, "extendedTypesEnabled"}, Case{ZNOCHILDRENFOREPHEMERALS, "parent is an ephemeral"},
                 Case{ZBADARGUMENTS, "create of /svc/a/b failed"}}) {
    ApplyTask task(PutIntent(), &ownership_);
    task.Restart();
    Step failed = task.OnResult(c.rc);
    EXPECT_EQ(failed.kind, StepKind::kFailed) << c.rc;
    EXPECT_NE(failed.reason.find(c.hint), std::string::npos) << failed.reason;
  }
  ApplyTask del(DeleteIntent(), &ownership_);
  del.Restart();
  del.OnRead(ZOK, Node(0));
  Step not_empty = del.OnResult(ZNOTEMPTY);
  EXPECT_EQ(not_empty.kind, StepKind::kFailed);
  EXPECT_NE(not_empty.reason.find("has children"), std::string::npos);
}

TEST_F(ApplyTaskTest, ModeChangesReplaceOurOwnEphemeral) {
  ApplyTask to_persistent(PutIntent(NodeMode::kPersistent), &ownership_);
  to_persistent.Restart();
  to_persistent.OnResult(ZNODEEXISTS);
  EXPECT_EQ(to_persistent.OnRead(ZOK, Node(kCurrent)).kind, StepKind::kReplace);

  Intent ttl = PutIntent(NodeMode::kPersistentWithTtl);
  ttl.node_ttl_ms = 1000;
  ApplyTask to_ttl(ttl, &ownership_);
  to_ttl.Restart();
  to_ttl.OnResult(ZNODEEXISTS);
  EXPECT_EQ(to_ttl.OnRead(ZOK, Node(kPrevious)).kind, StepKind::kDelete);  // a multi cannot create TTL nodes
  EXPECT_EQ(to_ttl.OnResult(ZOK).kind, StepKind::kCreate);
  EXPECT_EQ(to_ttl.OnResult(ZOK).kind, StepKind::kDone);
}

TEST_F(ApplyTaskTest, VerifyFirstReadsBeforeWriting) {
  ApplyTask task(PutIntent(), &ownership_, /*verify_first=*/true);
  EXPECT_EQ(task.Restart().kind, StepKind::kRead);
  EXPECT_EQ(task.OnRead(ZOK, Node(kCurrent)).kind, StepKind::kDone);
  EXPECT_EQ(task.Restart().kind, StepKind::kRead);
  EXPECT_EQ(task.OnRead(ZNONODE, {}).kind, StepKind::kCreate);
}

TEST_F(ApplyTaskTest, OwnershipFollowsTheCurrentSession) {
  ApplyTask task(PutIntent(), &ownership_);
  task.Restart();
  task.OnResult(ZNODEEXISTS);
  ownership_.previous_sessions.insert(kCurrent);  // the session expired; a new one took over
  ownership_.current_session = 0x200;
  EXPECT_EQ(task.OnRead(ZOK, Node(kCurrent)).kind, StepKind::kReplace);
}

}  // namespace
}  // namespace zkspool
