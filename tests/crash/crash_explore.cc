// crash_explore: records a workload's file-system changes and promises,
// builds the crash states a power loss could leave at each position
// (crash_state.h), opens each with the real recovery code and checks it
// (checker.h). scripts/crash-explore.sh runs it; docs/testing.md has the
// model, the figures and what it found.
//
//   crash_explore [--states N] [--workloads mixed,syncfail]
//                 [--fsync always,interval:5,never] [--seed S]
//                 [--seeds K]
//                 [--trace-dir DIR] [--work-dir DIR] [--max-per-position K]
//                 [--serve-every K --bin PATH] [--keep-going]
//   crash_explore --state ID      replays one state (its trace must be in
//                                 --trace-dir, as a run leaves it)
//
// A state's id is <workload>-<fsync>-<seed>:<position>:<e|s><k> (':' in
// the fsync policy written '_'): the k-th enumerated choice, or the k-th
// sampled one, at that position of that trace. Workloads: mixed, syncfail
// (workload.h).
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "tests/crash/checker.h"
#include "tests/crash/crash_state.h"
#include "tests/crash/workload.h"

namespace eventflow::crash {
namespace {

constexpr uint64_t kEnumerateUpTo = 256;  // 8 pending pieces, all subsets
constexpr int kSamplesPerPosition = 16;

struct Args {
  uint64_t states = 2000;
  std::vector<std::string> workloads = {"mixed", "syncfail"};
  std::vector<std::string> fsyncs = {"always", "interval:5", "never"};
  uint64_t seed = 1;
  uint64_t seeds = 1;  // workloads seed .. seed + seeds - 1, each policy
  std::string trace_dir = "crash-traces";
  std::string work_dir;
  std::string state_id;
  bool keep_going = false;
  // Sample at positions with more choices than this (bounded runs spread
  // over more positions); 0: enumerate up to kEnumerateUpTo.
  uint64_t max_per_position = 0;
  // Every K-th state checked passing is also served by the real binary
  // (--bin, or EVENTFLOW_BIN); 0: never.
  uint64_t serve_every = 0;
};

// "<workload>-<fsync>-<seed>", ':' in the policy written '_' (':'
// separates the parts of a state id).
std::string Tag(const std::string& workload, const std::string& fsync, uint64_t seed) {
  std::string tag = workload + "-" + fsync + "-" + std::to_string(seed);
  std::replace(tag.begin(), tag.end(), ':', '_');
  return tag;
}

std::string TraceFile(const Args& a, const std::string& tag) {
  return a.trace_dir + "/trace-" + tag + ".bin";
}

std::mt19937_64 SampleRng(uint64_t seed, size_t position, uint64_t k) {
  return std::mt19937_64(seed * 1000003u + position * 7919u + k);
}

Choice ChoiceFor(const CrashState& state, uint64_t seed, size_t position, char how, uint64_t k) {
  if (how == 'e') return state.Enumerated(k);
  auto rng = SampleRng(seed, position, k);
  return state.Sampled(rng);
}

// Materializes and checks one state; prints and keeps it when it fails.
bool CheckOne(const Args& a, const std::vector<Op>& ops, const Promises& promises,
              const CrashState& state, const std::string& id, const Choice& choice,
              bool keep_always, bool serve) {
  const std::string dir = a.work_dir + "/state";
  Status s = state.Materialize(choice, dir);
  const size_t position = std::stoull(id.substr(id.find(':') + 1));
  std::map<std::string, uint64_t> events;
  if (s.ok()) s = CheckState(promises, position, state, dir, &events);
  // The server recovers the state as it was left, not as the check did.
  if (s.ok() && serve) s = state.Materialize(choice, dir);
  if (s.ok() && serve) s = CheckServed(dir, events);
  if (s.ok() && !keep_always) return true;
  // Recovery changed `dir`; the state is made again for whoever looks.
  const std::string kept = a.trace_dir + "/state-" + id;
  (void)state.Materialize(choice, kept);
  if (!s.ok()) {
    std::printf("FAILED state %s (%s)\n  %s\n  last ops before it:\n", id.c_str(),
                choice.Describe().c_str(), s.ToString().c_str());
    for (size_t i = position > 8 ? position - 8 : 0; i < position; ++i)
      std::printf("    #%zu kind=%d inode=%llu pos=%llu %s %s\n", i, static_cast<int>(ops[i].kind),
                  static_cast<unsigned long long>(ops[i].inode),
                  static_cast<unsigned long long>(ops[i].pos), ops[i].path.c_str(),
                  ops[i].kind == OpKind::kPromise ? ops[i].data.substr(0, 60).c_str() : "");
    std::printf("  the state is kept in %s\n", kept.c_str());
  } else {
    std::printf("state %s (%s) passes; kept in %s\n", id.c_str(), choice.Describe().c_str(),
                kept.c_str());
  }
  std::fflush(stdout);
  return s.ok();
}

int Replay(const Args& a) {
  // <workload>-<fsync>-<seed>:<position>:<e|s><k>
  const size_t c1 = a.state_id.find(':'), c2 = a.state_id.rfind(':');
  const size_t dash = a.state_id.rfind('-', c1);
  if (c1 == std::string::npos || c2 == c1 || dash == std::string::npos ||
      c2 + 2 > a.state_id.size()) {
    std::fprintf(stderr, "bad state id %s\n", a.state_id.c_str());
    return 2;
  }
  const std::string tag = a.state_id.substr(0, c1);
  const uint64_t seed = std::stoull(a.state_id.substr(dash + 1, c1 - dash - 1));
  const size_t position = std::stoull(a.state_id.substr(c1 + 1, c2 - c1 - 1));
  const char how = a.state_id[c2 + 1];
  const uint64_t k = std::stoull(a.state_id.substr(c2 + 2));
  auto ops = OpLog::Load(TraceFile(a, tag));
  if (!ops.ok()) {
    std::fprintf(stderr, "%s (run the explorer with --seed %llu first)\n",
                 ops.status().ToString().c_str(), static_cast<unsigned long long>(seed));
    return 2;
  }
  auto promises = ParsePromises(*ops);
  if (!promises.ok()) return 2;
  CrashState state(*ops, position);
  return CheckOne(a, *ops, *promises, state, a.state_id, ChoiceFor(state, seed, position, how, k),
                  true, a.serve_every != 0)
             ? 0
             : 1;
}

// One workload's trace: states at shuffled positions until `budget`.
// Returns the failures; adds the states checked to *checked.
int Explore(const Args& a, const std::string& workload, const std::string& fsync, uint64_t seed,
            uint64_t budget, uint64_t* checked, uint64_t* served) {
  WorkloadSpec spec;
  spec.name = workload;
  spec.fsync = fsync;
  spec.seed = seed;
  const std::string run_root = a.work_dir + "/run";
  std::error_code ec;
  std::filesystem::remove_all(run_root, ec);
  auto ops = RunWorkload(spec, run_root);
  std::filesystem::remove_all(run_root, ec);
  if (!ops.ok()) {
    std::printf("the workload failed: %s\n", ops.status().ToString().c_str());
    return 1;
  }
  const std::string tag = Tag(workload, fsync, seed);
  Status saved = OpLog::Save(*ops, TraceFile(a, tag));
  if (!saved.ok()) std::printf("%s\n", saved.ToString().c_str());
  auto promises = ParsePromises(*ops);
  if (!promises.ok()) {
    std::printf("%s\n", promises.status().ToString().c_str());
    return 1;
  }
  std::vector<size_t> positions;
  for (size_t p = 0; p <= ops->size(); ++p) positions.push_back(p);
  std::mt19937_64 shuffle(seed);
  std::shuffle(positions.begin(), positions.end(), shuffle);
  int failures = 0;
  uint64_t done = 0, enumerated_positions = 0, sampled_positions = 0;
  for (size_t p : positions) {
    if (done >= budget) break;
    CrashState state(*ops, p);
    const uint64_t combos = state.Combinations();
    const bool all =
        combos <=
        (a.max_per_position != 0 ? std::min(a.max_per_position, kEnumerateUpTo) : kEnumerateUpTo);
    (all ? enumerated_positions : sampled_positions)++;
    const uint64_t n =
        all ? combos
            : std::min<uint64_t>(kSamplesPerPosition,
                                 a.max_per_position != 0 ? a.max_per_position : UINT64_MAX);
    for (uint64_t k = 0; k < n && done < budget; ++k, ++done) {
      const std::string id =
          tag + ":" + std::to_string(p) + ":" + (all ? "e" : "s") + std::to_string(k);
      const bool serve = a.serve_every != 0 && (*checked + done) % a.serve_every == 0;
      if (serve) ++*served;
      if (!CheckOne(a, *ops, *promises, state, id, ChoiceFor(state, seed, p, all ? 'e' : 's', k),
                    false, serve)) {
        ++failures;
        if (!a.keep_going) {
          *checked += done + 1;
          return failures;
        }
      }
    }
  }
  std::printf(
      "%s: %zu ops, %llu states at %llu positions (%llu enumerated whole, %llu sampled), "
      "%d failed\n",
      tag.c_str(), ops->size(), static_cast<unsigned long long>(done),
      static_cast<unsigned long long>(enumerated_positions + sampled_positions),
      static_cast<unsigned long long>(enumerated_positions),
      static_cast<unsigned long long>(sampled_positions), failures);
  std::fflush(stdout);
  *checked += done;
  return failures;
}

int Main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", arg.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--states") {
      a.states = std::stoull(value());
    } else if (arg == "--fsync") {
      a.fsyncs.clear();
      std::stringstream list(value());
      for (std::string f; std::getline(list, f, ',');) a.fsyncs.push_back(f);
    } else if (arg == "--workloads") {
      a.workloads.clear();
      std::stringstream list(value());
      for (std::string w; std::getline(list, w, ',');) a.workloads.push_back(w);
    } else if (arg == "--seed") {
      a.seed = std::stoull(value());
    } else if (arg == "--seeds") {
      a.seeds = std::max<uint64_t>(1, std::stoull(value()));
    } else if (arg == "--trace-dir") {
      a.trace_dir = value();
    } else if (arg == "--work-dir") {
      a.work_dir = value();
    } else if (arg == "--state") {
      a.state_id = value();
    } else if (arg == "--max-per-position") {
      a.max_per_position = std::stoull(value());
    } else if (arg == "--serve-every") {
      a.serve_every = std::stoull(value());
    } else if (arg == "--bin") {
      ::setenv("EVENTFLOW_BIN", value().c_str(), 1);
    } else if (arg == "--keep-going") {
      a.keep_going = true;
    } else {
      std::fprintf(stderr, "unknown argument %s\n", arg.c_str());
      return 2;
    }
  }
  if (a.work_dir.empty()) {
    // States are many small writes: tmpfs when there is one.
    const std::string base = std::filesystem::exists("/dev/shm") ? "/dev/shm" : "/tmp";
    a.work_dir = base + "/eventflow-crash-" + std::to_string(::getpid());
  }
  std::filesystem::create_directories(a.trace_dir);
  std::filesystem::create_directories(a.work_dir);
  spdlog::set_level(spdlog::level::off);  // recovery's warnings, once per state
  int rc = 0;
  if (!a.state_id.empty()) {
    rc = Replay(a);
  } else {
    const auto start = std::chrono::steady_clock::now();
    uint64_t checked = 0, served = 0;
    int failures = 0;
    const uint64_t runs = a.workloads.size() * a.fsyncs.size() * a.seeds;
    for (uint64_t seed = a.seed; seed < a.seed + a.seeds; ++seed)
      for (const std::string& workload : a.workloads)
        for (const std::string& fsync : a.fsyncs)
          failures += Explore(a, workload, fsync, seed, a.states / runs, &checked, &served);
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("crash_explore: %llu states checked (%llu also served) in %.1f s, %d failed\n",
                static_cast<unsigned long long>(checked), static_cast<unsigned long long>(served),
                secs, failures);
    rc = failures == 0 ? 0 : 1;
  }
  std::error_code ec;
  std::filesystem::remove_all(a.work_dir, ec);
  return rc;
}

}  // namespace
}  // namespace eventflow::crash

int main(int argc, char** argv) { return eventflow::crash::Main(argc, argv); }
