# bench.gp: draws `npool-bench --csv` output (make bench-plot).
# usage: gnuplot -e "csv='bench.csv'; out='bench.png'" bench.gp
# CSV columns: 1 workload, 2 threads, 3 impl, 6 ns/alloc median, 7 min,
# 8 max, 9 requests/s median.

if (!exists("csv")) csv = 'bench.csv'
if (!exists("out")) out = 'bench.png'

rows(w) = sprintf("< awk -F, '!/^#/ && $1 == \"%s\"' %s", w, csv)
rows1(w) = sprintf("< awk -F, '!/^#/ && $1 == \"%s\" && $2 == 1' %s", w, csv)
rowsi(w, i) = sprintf("< awk -F, '!/^#/ && $1 == \"%s\" && $3 == \"%s\"' %s", w, i, csv)
impls(w) = system(sprintf("awk -F, '!/^#/ && $1 == \"%s\" && !seen[$3]++ { printf \"%%s \", $3 }' %s", w, csv))
cores = system(sprintf("awk -F, '!/^#/ && $2 + 0 > m { m = $2 + 0 } END { print m + 0 }' %s", csv))

set terminal pngcairo size 1400,1000 font ",10"
set output out
set datafile separator ","
set multiplot layout 2,2 title "npool-bench (".csv.")"
set grid ytics
set key left top

# (1) request workload, one thread: median with min..max
set title "request workload, 1 thread: ns per allocation (median, min..max)"
set logscale y
set ylabel "ns per allocation"
set style fill solid 0.4
set boxwidth 0.6
set xtics rotate by -30
plot rows1("request") using 0:6:xtic(3) with boxes notitle, \
     '' using 0:6:7:8 with yerrorbars lc rgb "black" pt 0 notitle

# (2) every private workload, one thread
set title "ns per allocation by workload, 1 thread (median)"
plot for [w in "request tiny large-heavy"] rows1(w) using 0:6:xtic(3) with linespoints title w

# (3) request throughput against threads
unset logscale y
set xtics norotate 1
set xrange [0.8:cores + 0.2]
set xlabel "threads"
set ylabel "million allocations/s (all threads)"
set title "request workload: throughput against threads"
set key outside right
set logscale y
plot for [i in impls("request")] rowsi("request", i) using 2:($9 * 256 / 1e6) with linespoints title i

# (4) shared pool throughput against threads
set title "shared workload (one arena for all threads): throughput against threads"
plot for [i in impls("shared")] rowsi("shared", i) using 2:($9 * 256 / 1e6) with linespoints title i

unset multiplot
