# Shared by the benchmark scripts (source it).

# Percentage of CPU time spent busy over the next second, from /proc/stat: the benchmarks say
# when other work on this small machine makes their timings noisy.
cpu_busy_percent() {
  local a b
  a=$(head -1 /proc/stat); sleep 1; b=$(head -1 /proc/stat)
  awk -v a="$a" -v b="$b" 'BEGIN {
    n = split(a, x); split(b, y); total = 0
    for (i = 2; i <= n; i++) total += y[i] - x[i]
    idle = (y[5] - x[5]) + (y[6] - x[6])
    printf "%d", (total > 0 ? 100 * (total - idle) / total : 0) }'
}
