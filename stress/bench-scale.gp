# bench-scale.gp: draws `npool-bench --scale --csv` output (make bench-scale-plot).
# usage: gnuplot -e "csv='bench-scale.csv'; out='bench-scale.png'" bench-scale.gp
# CSV columns: 1 "scale", 2 section, 3 size, 4 impl, 5 ns, 6 reference, 7 its ns,
# 8 pool-size only: x bump / x bump at 256 allocations.

if (!exists("csv")) csv = 'bench-scale.csv'
if (!exists("out")) out = 'bench-scale.png'

sec(s) = sprintf("< awk -F, '$1 == \"scale\" && $2 == \"%s\"' %s", s, csv)

set terminal pngcairo size 1400,1000 font ",10" noenhanced
set output out
set datafile separator ","
set multiplot layout 2,2 title "npool-bench --scale: cost as the work grows (".csv.")"
set grid
set key left top
set logscale x

set title "pool of N small allocations (request mix), then destroy: ns per allocation"
set xlabel "allocations in the pool"
set ylabel "ns per allocation"
set y2label "x bump / x bump at 256"
set y2tics
plot sec("pool-size") using 3:5 with linespoints title "np-create", \
     '' using 3:7 with linespoints title "bump (the limit)", \
     '' using 3:8 axes x1y2 with linespoints dt 2 title "x bump / at 256 (right)"
unset y2label
unset y2tics

set title "np_free + np_alloc of 6 KiB among L live large allocations"
set xlabel "live large allocations"
set ylabel "ns per free + alloc"
set logscale y
plot sec("np-free") using 3:5 with linespoints title "npool", \
     '' using 3:7 with linespoints title "free + malloc"

set title "statistics: np_pool_stats by blocks, np_global_stats by live threads"
set xlabel "blocks / threads"
set ylabel "ns per call"
plot sec("pool-stats") using 3:5 with linespoints title "np_pool_stats (blocks)", \
     sec("global-stats") using 3:5 with linespoints title "np_global_stats (threads)", \
     sec("global-stats") using 3:7 with linespoints title "np_global_stats per thread"

set title "one shared pool, T threads: ns per allocation (wall x T / allocations)"
set xlabel "threads"
set ylabel "ns per allocation"
plot sec("shared") using 3:5 with linespoints title "np-shared", \
     '' using 3:7 with linespoints title "atomic bump (the limit)"

unset multiplot
