#!/usr/bin/env bash
# tests/mutation_check.sh -- breaks the library on purpose, once per estimator, attack, metric
# and registry entry, and checks that a test fails each time.
#
#   bash tests/mutation_check.sh [--build DIR] [--only ID[,ID...]] [--list] [--check [REV]]
#
# --list names the mutations; --check says where each one applies (in git revision REV, by
# default the work tree) without building anything. Some mutations carry a second pattern
# for code that was reorganised (`also`); the first pattern found exactly once is used.
# For each mutation: the one line (or few) it names is replaced in place -- the pattern must
# occur exactly once, so a change to the code shows as "pattern not found" instead of a
# mutation silently not applied --, the test programs that should notice are rebuilt in DIR
# (default: build, configured by cmake/run-tests.sh or `cmake -S . -B build`) and run with
# ctest, and the file is restored from a copy (also on Ctrl-C or an error: trap). A mutation
# is "caught" when at least one of its tests fails; the ones that failed are listed. A
# mutation that no longer compiles is reported as such (not as caught). Prints a Markdown
# table; exits 1 when a mutation was not caught or could not be applied.
#
# Not part of ctest / CI (each mutation rebuilds test programs: about a minute or more each
# on 2 cores). Run it after changing an estimator, a metric or the tests that guard them.
set -uo pipefail
cd "$(dirname "$0")/.."

build=build
only=""
list=0
check_ref=""
while [ $# -gt 0 ]; do
  case "$1" in
  --build) build="$2"; shift 2 ;;
  --only) only=",$2,"; shift 2 ;;
  --list) list=1; shift ;;
  --check)
    list=2
    shift
    if [ $# -gt 0 ] && [[ "$1" != --* ]]; then check_ref="$1"; shift; fi
    ;;
  -h | --help) sed -n '2,21p' "$0"; exit 0 ;;
  *) echo "mutation_check: unknown argument '$1'" >&2; exit 2 ;;
  esac
done

ids=() files=() froms=() tos=() targets=() tests=() what=()
alt_of=() alt_files=() alt_froms=() alt_tos=()
# mutation ID FILE "TARGETS" "CTEST_REGEX" "WHAT" FROM TO
mutation() {
  ids+=("$1") files+=("$2") targets+=("$3") tests+=("$4") what+=("$5") froms+=("$6") tos+=("$7")
}
# also FILE FROM TO: the same mutation where the code reads differently (another version of
# the library); the first of the mutation's patterns found exactly once is applied.
also() {
  alt_of+=($((${#ids[@]} - 1))) alt_files+=("$1") alt_froms+=("$2") alt_tos+=("$3")
}

# --- estimators (include/misd/radius) ------------------------------------------------------
mutation bs-bracket include/misd/radius/rr_bs.hpp "test_radius test_rr_refine" "^(test_radius|test_rr_refine)$" \
  "RR-BS: a flip raises lo and a non-flip lowers hi (bracket update swapped)" \
  '(same ? ws.lo[e] : ws.hi[e]) = ws.at[j];' \
  '(same ? ws.hi[e] : ws.lo[e]) = ws.at[j];'
also include/misd/radius/bracket.hpp \
  'void record(double r, bool flipped) { (flipped ? hi : lo) = r; }' \
  'void record(double r, bool flipped) { (flipped ? lo : hi) = r; }'
mutation bs-box include/misd/radius/rr_bs.hpp "test_radius test_rr_refine" "^(test_radius|test_rr_refine)$" \
  "RR-BS: probes not clamped into the box (box clamp dropped)" \
  'evaluate_ray_points(model, x, o.box, count, n, ws, res);' \
  'evaluate_ray_points(model, x, std::optional<input_box>{}, count, n, ws, res);'
also include/misd/radius/rr_bs.hpp \
  'evaluate_ray_points(model, x, o.box, count, n * tree, ws, res);' \
  'evaluate_ray_points(model, x, std::optional<input_box>{}, count, n * tree, ws, res);'
mutation bs-tolerance include/misd/radius/rr_bs.hpp "test_radius test_rr_refine" "^(test_radius|test_rr_refine)$" \
  "RR-BS: a bracket exactly as narrow as the tolerance keeps searching (< for <=)" \
  'ws.hi[e] - ws.lo[e] <= o.tolerance * ws.hi[e];' \
  'ws.hi[e] - ws.lo[e] < o.tolerance * ws.hi[e];'
also include/misd/radius/options.hpp \
  'std::isfinite(hi) && hi - lo <= o.tolerance * hi;' \
  'std::isfinite(hi) && hi - lo < o.tolerance * hi;'
also include/misd/radius/bracket.hpp \
  'std::isfinite(hi) && hi - lo <= o.tolerance * hi;' \
  'std::isfinite(hi) && hi - lo < o.tolerance * hi;'
mutation bs-doubling include/misd/radius/rr_bs.hpp "test_radius test_rr_refine" "^(test_radius|test_rr_refine)$" \
  "RR-BS: the search grows by 4x instead of doubling" \
  'ws.at[count++] = std::min({(ws.lo[e] + ws.hi[e]) / 2, 2 * ws.lo[e], o.max_radius});' \
  'ws.at[count++] = std::min({(ws.lo[e] + ws.hi[e]) / 2, 4 * ws.lo[e], o.max_radius});'
also include/misd/radius/options.hpp \
  'return std::min({(lo + hi) / 2, 2 * lo, o.max_radius});' \
  'return std::min({(lo + hi) / 2, 4 * lo, o.max_radius});'
also include/misd/radius/bracket.hpp \
  'return std::min({(lo + hi) / 2, 2 * lo, o.max_radius});' \
  'return std::min({(lo + hi) / 2, 4 * lo, o.max_radius});'
mutation pgd-bracket include/misd/radius/rr_bs.hpp "test_radius test_rr_refine" "^(test_radius|test_rr_refine)$" \
  "RR-BS (PGD): bracket update swapped in the shared boundary search" \
  '(pred[i] == res.prediction[i] ? lo[i] : hi[i]) = r[i];' \
  '(pred[i] == res.prediction[i] ? hi[i] : lo[i]) = r[i];'
also include/misd/radius/rr_bs.hpp \
  'bracket[i].record(r[static_cast<Eigen::Index>(i)], pred[i] != res.prediction[i]);' \
  'bracket[i].record(r[static_cast<Eigen::Index>(i)], pred[i] == res.prediction[i]);'
mutation fast-sign include/misd/radius/rr_fast.hpp "test_radius test_rr_refine" "^(test_radius|test_rr_refine)$" \
  "RR-Fast: the slope of the linearised gap with its sign flipped" \
  'const double slope = ((z1(j1, k) - z0(j0, k)) - dy) / alpha;' \
  'const double slope = (dy - (z1(j1, k) - z0(j0, k))) / alpha;'
also include/misd/radius/ray.hpp \
  'const double slope = ((z1(j1, k) - z0(j0, k)) - dy) / alpha;' \
  'const double slope = (dy - (z1(j1, k) - z0(j0, k))) / alpha;'
mutation fast-step include/misd/radius/rr_fast.hpp "test_radius test_rr_refine" "^(test_radius|test_rr_refine)$" \
  "RR-Fast: finite difference divided by the wrong step (alpha / 2)" \
  'const double q = linear_crossing_rows(ws.z0, e, ws.z_probe, e, res.prediction[i], o.fd_step);' \
  'const double q = linear_crossing_rows(ws.z0, e, ws.z_probe, e, res.prediction[i], o.fd_step / 2);'
also include/misd/radius/rr_fast.hpp \
  'const double q = linear_crossing(ws.z0, e, ws.z_probe, e, res.prediction[i], o.fd_step);' \
  'const double q = linear_crossing(ws.z0, e, ws.z_probe, e, res.prediction[i], o.fd_step / 2);'
# (r <= lo -> r < lo in replay_rr_bs is an equivalent mutant: a probe at exactly the verified
# lo is then decided by the estimate, which lies above lo, so the same way; the `determined`
# flag it clears changes no probe and no radius. Not listed.)
mutation refine-replay include/misd/radius/rr_refine.hpp "test_rr_refine test_radius" "^(test_rr_refine|test_radius)$" \
  "RR-Refine: the replay of RR-BS decides an open probe the wrong way (>= est swapped for <= est)" \
  'flip = r >= est;' \
  'flip = r <= est;'
mutation refine-root include/misd/radius/rr_refine.hpp "test_rr_refine test_radius" "^(test_rr_refine|test_radius)$" \
  "RR-Refine: regula-falsi root with its sign flipped (falls back to the midpoint)" \
  'double root = w > 0 && ws.m_lo[e] >= 0 ? lo + ws.m_lo[e] * (hi - lo) / w : (lo + hi) / 2;' \
  'double root = w > 0 && ws.m_lo[e] >= 0 ? lo - ws.m_lo[e] * (hi - lo) / w : (lo + hi) / 2;'
# --- attacks (include/misd/attack) ---------------------------------------------------------
mutation fgsm-sign include/misd/attack/fgsm.hpp "test_attack" "^test_attack$" \
  "FGSM: ascends when it should descend and vice versa (sign flipped)" \
  'return (o.targeted != o.reverse) ? -1.0 : 1.0;' \
  'return (o.targeted != o.reverse) ? 1.0 : -1.0;'
mutation fgsm-box include/misd/attack/fgsm.hpp "test_attack" "^test_attack$" \
  "FGSM: the step not clamped into the box (box clamp dropped)" \
  $'  if (opts.box)\n    batch_ops<batch_t<M>>::clamp(out, opts.box->lo, opts.box->hi);\n  return out;' \
  $'  return out;'
mutation pgd-project include/misd/attack/pgd.hpp "test_attack" "^test_attack$" \
  "PGD: no projection onto the eps-ball" \
  $'    ops::project_linf(x, x0, eps);\n' \
  ''
mutation pgd-box include/misd/attack/pgd.hpp "test_attack" "^test_attack$" \
  "PGD: the iterate not clamped into the box (box clamp dropped)" \
  $'    ops::project_linf(x, x0, eps);\n    if (opts.box)\n      ops::clamp(x, opts.box->lo, opts.box->hi);\n' \
  $'    ops::project_linf(x, x0, eps);\n'
# --- metrics (include/misd/metric, include/misd/detail/metric_groups.hpp) ---------------
mutation auroc-ties include/misd/metric/auroc.hpp "test_metric" "^test_metric$" \
  "AUROC: a tie counts as a win instead of 1/2 (tie rule swapped)" \
  'twice_u += static_cast<std::uint64_t>(grp.correct) * (2 * wrong_below + grp.wrong);' \
  'twice_u += static_cast<std::uint64_t>(grp.correct) * (2 * wrong_below + 2 * grp.wrong);'
mutation roc-order include/misd/metric/auroc.hpp "test_metric" "^test_metric$" \
  "ROC curve: error-positive points walk the groups in the wrong order" \
  'const auto& grp = err ? g.groups[k - 1 - i] : g.groups[i];' \
  'const auto& grp = err ? g.groups[i] : g.groups[k - 1 - i];'
mutation fpr-strict include/misd/metric/fpr_at_tpr.hpp "test_metric" "^test_metric$" \
  "FPR@TPR: stops at TPR > t instead of >= t (< for <=)" \
  'if (static_cast<double>(rejected_wrong) / n_wrong >= tpr)' \
  'if (static_cast<double>(rejected_wrong) / n_wrong > tpr)'
mutation aurc-rectangle include/misd/metric/aurc.hpp "test_metric" "^test_metric$" \
  "AURC: left rectangles instead of trapezoids" \
  'area += static_cast<double>(grp.correct + grp.wrong) / n * (risk + prev_risk) / 2.0;' \
  'area += static_cast<double>(grp.correct + grp.wrong) / n * risk;'
mutation eaurc-sign include/misd/metric/aurc.hpp "test_metric" "^test_metric$" \
  "E-AURC: optimum err - (1 - err) ln(1 - err) (sign flipped)" \
  'return err + (1.0 - err) * std::log1p(-err);' \
  'return err - (1.0 - err) * std::log1p(-err);'
mutation aupr-precision include/misd/metric/aupr.hpp "test_metric" "^test_metric$" \
  "AUPR: precision at a threshold leaves out the group's own positives" \
  '(static_cast<double>(tp) / static_cast<double>(flagged))' \
  '(static_cast<double>(tp - pos_here) / static_cast<double>(flagged))'
mutation groups-ties include/misd/detail/metric_groups.hpp "test_metric" "^test_metric$" \
  "all metrics: equal confidences no longer share a tie group" \
  'if (out.groups.empty() || items[i].first != out.groups.back().value)' \
  'if (true)'
mutation risk-coverage include/misd/metric/risk_coverage.hpp "test_metric" "^test_metric$" \
  "risk_at_coverage: the first point with coverage > c instead of >= c" \
  'if (static_cast<double>(kept) / static_cast<double>(g.n) >= coverage)' \
  'if (static_cast<double>(kept) / static_cast<double>(g.n) > coverage)'
mutation sgr-ties include/misd/metric/risk_control.hpp "test_risk_control risk_control_json" "^(test_risk_control|risk_control_reference)$" \
  "SGR: a candidate accepts scores above it only (ties split off)" \
  'const auto it = inclusive ? std::lower_bound(value.begin(), value.end(), t)' \
  'const auto it = inclusive ? std::upper_bound(value.begin(), value.end(), t)'
mutation sgr-union include/misd/metric/risk_control.hpp "test_risk_control risk_control_json" "^(test_risk_control|risk_control_reference)$" \
  "SGR: each candidate's bound at delta instead of delta / ceil(log2 m) (no union bound)" \
  'const double delta_each = o.delta / static_cast<double>(k);' \
  'const double delta_each = o.delta;'
mutation sgr-bisect include/misd/metric/risk_control.hpp "test_risk_control risk_control_json" "^(test_risk_control|risk_control_reference)$" \
  "SGR: the bisection's midpoint rounds down" \
  'const std::size_t z = (z_lo + z_hi + 1) / 2; // ceil, 1-based rank' \
  'const std::size_t z = (z_lo + z_hi) / 2; // ceil, 1-based rank'
mutation cp-zero-errors include/misd/metric/risk_control.hpp "test_risk_control risk_control_json" "^(test_risk_control|risk_control_reference)$" \
  "Clopper-Pearson bound at 0 errors: 1 - delta^(1/(n+1))" \
  'return -std::expm1(log_delta / static_cast<double>(n));' \
  'return -std::expm1(log_delta / static_cast<double>(n + 1));'
mutation ltt-fixed-sequence include/misd/metric/risk_control.hpp "test_risk_control risk_control_json" "^(test_risk_control|risk_control_reference)$" \
  "Learn-then-Test: the walk goes on past a failing point" \
  'if (p > o.delta)' \
  'if (p > o.delta && false)'
mutation ltt-hb include/misd/metric/risk_control.hpp "test_risk_control risk_control_json" "^(test_risk_control|risk_control_reference)$" \
  "Learn-then-Test: Hoeffding-Bentkus without its Bentkus term" \
  'return std::min(hoeffding, std::exp(1.0) * binom);' \
  'return hoeffding;'
mutation refine-bisect include/misd/radius/boundary_refine.hpp "test_minimal_perturbation test_fab" "^(test_minimal_perturbation|test_fab)$" \
  "bisection on [x, x_a]: a flip raises lo (bracket update swapped)" \
  '(flip ? ws.hi[e] : ws.lo[e]) = ws.at[j];' \
  '(flip ? ws.lo[e] : ws.hi[e]) = ws.at[j];'
mutation deepfool-overshoot include/misd/radius/deepfool.hpp "test_minimal_perturbation" "^test_minimal_perturbation$" \
  "DeepFool-L∞: the overshoot shrinks the accumulated step instead of growing it" \
  'it.x.row(e) = it.x0.row(e) + (1 + o.overshoot) * p.row(e);' \
  'it.x.row(e) = it.x0.row(e) + (1 - o.overshoot) * p.row(e);'
mutation rr-iter-step include/misd/radius/rr_iter.hpp "test_minimal_perturbation" "^test_minimal_perturbation$" \
  "rr-iter: the step divides the margin by the L1 norm squared" \
  'const double s = std::min(margin / (l1 + 1e-6), o.trust_radius);' \
  'const double s = std::min(margin / (l1 * l1 + 1e-6), o.trust_radius);'
mutation fab-alpha include/misd/radius/fab.hpp "test_fab misd_tool" "^(test_fab|fab_numpy_e2e)$" \
  "FAB-L∞: the weight of the step from x is not capped by alpha_max" \
  'const double alpha = std::min(a1 / (a1 + a2), o.alpha_max);' \
  'const double alpha = a1 / (a1 + a2);'
# --- scores and the method registry (include/misd/score) ------------------------------------
mutation registry-radius include/misd/score/method.hpp "test_score" "^test_score$" \
  "registry: 'rr-fast' runs RR-BS and 'rr-bs' RR-Fast (names swapped)" \
  $'radius_result r = name == "rr-fast"     ? rr_fast(model, x, ro)\n                      : name == "rr-bs"     ? rr_bs(model, x, ro)' \
  $'radius_result r = name == "rr-fast"     ? rr_bs(model, x, ro)\n                      : name == "rr-bs"     ? rr_fast(model, x, ro)'
also include/misd/score/method.hpp \
  'if (name == "rr-fast")' \
  'if (name == "rr-bs")'
mutation registry-entropy include/misd/score/method.hpp "test_score" "^test_score$" \
  "registry: 'entropy' computes the margin" \
  'return detail::logit_method<M>(n, logit_score::negative_entropy, t1, o);' \
  'return detail::logit_method<M>(n, logit_score::margin, t1, o);'

mutation posthoc-pnorm include/misd/score/posthoc.hpp "test_score test_posthoc_json" "^(test_score|posthoc_reference)$" \
  "MaxLogit-pNorm: the p-norm without its 1/p root" \
  'return std::max(a * std::pow(s, 1.0 / p), 1e-12);' \
  'return std::max(a * s, 1e-12);'
mutation posthoc-gen include/misd/score/posthoc.hpp "test_score test_posthoc_json" "^(test_score|posthoc_reference)$" \
  "GEN: log(1 - p_ŷ) taken as log p_ŷ" \
  'l1mp = l - log1p_s;' \
  'l1mp = -log1p_s;'

# The patterns of mutation i, "file<US>from<US>to" each, the main one first.
candidates() {
  local k
  printf '%s\x1f%s\x1f%s\x1e' "${files[$1]}" "${froms[$1]}" "${tos[$1]}"
  for k in "${!alt_of[@]}"; do
    [ "${alt_of[$k]}" = "$1" ] &&
      printf '%s\x1f%s\x1f%s\x1e' "${alt_files[$k]}" "${alt_froms[$k]}" "${alt_tos[$k]}"
  done
  return 0
}

# Applies the first of CANDIDATES whose pattern occurs exactly once and prints
# "file:line" (the first changed line); exit 1 when none does. DRY=1: only finds it;
# REF: reads the files of that git revision instead (with DRY=1).
apply_mutation() {
  CANDIDATES="$1" python3 - <<'PY'
import os, subprocess, sys
ref = os.environ.get("REF", "")
for cand in os.environ["CANDIDATES"].split("\x1e"):
    if not cand:
        continue
    path, frm, to = cand.split("\x1f")
    if ref:
        src = subprocess.run(["git", "show", f"{ref}:{path}"], capture_output=True,
                             text=True).stdout
    else:
        src = open(path).read() if os.path.exists(path) else ""
    if src.count(frm) != 1:
        continue
    same = 0  # the first line that changes
    for a, b in zip(frm.splitlines(), to.splitlines()):
        if a != b:
            break
        same += 1
    print(f"{path}:{src[: src.index(frm)].count(chr(10)) + 1 + same}")
    if os.environ.get("DRY") != "1":
        open(path, "w").write(src.replace(frm, to))
    sys.exit(0)
sys.exit(1)
PY
}

if [ "$list" != 0 ]; then
  # --list: every mutation; --check [REF]: and where it applies (in REF, default the work
  # tree), so that a change to the code that moved a pattern shows before a long run.
  status=0
  for i in "${!ids[@]}"; do
    if [ "$list" = 1 ]; then
      printf '%-18s %-40s %s\n' "${ids[$i]}" "${files[$i]}" "${what[$i]}"
    elif where=$(DRY=1 REF="$check_ref" apply_mutation "$(candidates "$i")"); then
      printf '%-18s applies at %s\n' "${ids[$i]}" "$where"
    else
      printf '%-18s NOT FOUND (%s)\n' "${ids[$i]}" "${files[$i]}"
      status=1
    fi
  done
  exit $status
fi

[ -f "$build/CMakeCache.txt" ] || {
  echo "mutation_check: no configured build in '$build' (cmake -S . -B $build)" >&2
  exit 2
}
for f in $(printf '%s\n' "${files[@]}" "${alt_files[@]}" | sort -u); do
  git diff --quiet -- "$f" || {
    echo "mutation_check: $f has uncommitted changes; commit or stash them first" >&2
    exit 2
  }
done

backup=$(mktemp -d)
current=""
restore() {
  if [ -n "$current" ]; then
    # A plain copy: the restored file is newer than the objects built from the mutant, so
    # the next build recompiles them (cp -p would bring back the old time and leave them).
    cp "$backup/orig" "$current"
    current=""
  fi
}
trap 'restore; rm -rf "$backup"' EXIT
trap 'exit 130' INT TERM

jobs=$(nproc 2>/dev/null || echo 2)
rows=()
failed=0
for i in "${!ids[@]}"; do
  id=${ids[$i]} f=${files[$i]}
  if [ -n "$only" ] && [[ "$only" != *",$id,"* ]]; then continue; fi
  echo "=== $id: ${what[$i]} ($f)" >&2
  if ! where=$(DRY=1 apply_mutation "$(candidates "$i")"); then
    rows+=("| $id | $f | ${what[$i]} | **not applied** (pattern not found) | |")
    failed=1
    continue
  fi
  f=${where%:*}
  cp -p "$f" "$backup/orig"
  current=$f
  apply_mutation "$(candidates "$i")" >/dev/null || exit 2
  # shellcheck disable=SC2086
  if ! nice -n 10 cmake --build "$build" -j"$jobs" --target ${targets[$i]} >"$backup/build.log" 2>&1; then
    tail -20 "$backup/build.log" >&2
    rows+=("| $id | $where | ${what[$i]} | **does not compile** | |")
    failed=1
    restore
    continue
  fi
  out=$(cd "$build" && nice -n 10 ctest -R "${tests[$i]}" -j"$jobs" --timeout 900 2>&1)
  # The names listed under "The following tests FAILED:" (Failed, Timeout, SEGFAULT, ...).
  caught=$(printf '%s\n' "$out" | awk '/The following tests FAILED:/ { f = 1; next }
    f && $2 == "-" { printf "%s%s", sep, $3; sep = ", " }')
  ran=$(printf '%s\n' "$out" | grep -c 'Test *#')
  if [ "$ran" = 0 ]; then
    rows+=("| $id | $where | ${what[$i]} | **no test ran** (${tests[$i]}) | |")
    failed=1
  elif [ -n "$caught" ]; then
    rows+=("| $id | $where | ${what[$i]} | caught | $caught |")
  else
    rows+=("| $id | $where | ${what[$i]} | **not caught** | ${tests[$i]} passed |")
    failed=1
  fi
  echo "    -> ${rows[-1]}" >&2
  restore
done
# Leave the build matching the restored sources.
targets_all=$(printf '%s\n' "${targets[@]}" | tr ' ' '\n' | sort -u | paste -sd' ')
# shellcheck disable=SC2086
nice -n 10 cmake --build "$build" -j"$jobs" --target $targets_all >/dev/null 2>&1 || true

echo "| mutation | where | what | result | failing tests |"
echo "|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
exit $failed
