FILE = 'doc/results-16core-2026-11-27/run1/park.csv'
set terminal pngcairo size 1400,860 noenhanced font ',10'
set output 'doc/results-16core-2026-11-27/run1/park.png'
set datafile separator ','
set key top left font ',9' opaque
set grid
set xtics 1
set offsets 0.2,0.2,0,0
set multiplot layout 1,2 title 'parking an executor thread'
set xlabel 'waker threads'
set title 'busy owner: wakes per second'
set ylabel 'M wakes/s'
unset logscale y
set xrange [*:*]
set yrange [0:*]
plot FILE using 3:(strcol(1) eq 'lfreactor' && strcol(2) eq 'busy' ? $9/1e+06 : 1/0) with linespoints title 'lfreactor', \
     FILE using 3:(strcol(1) eq 'futex' && strcol(2) eq 'busy' ? $9/1e+06 : 1/0) with linespoints title 'futex', \
     FILE using 3:(strcol(1) eq 'futex-always' && strcol(2) eq 'busy' ? $9/1e+06 : 1/0) with linespoints title 'futex-always', \
     FILE using 3:(strcol(1) eq 'eventfd' && strcol(2) eq 'busy' ? $9/1e+06 : 1/0) with linespoints title 'eventfd', \
     FILE using 3:(strcol(1) eq 'ck_ec' && strcol(2) eq 'busy' ? $9/1e+06 : 1/0) with linespoints title 'ck_ec'
set title 'busy owner: share of unparks making a system call'
set ylabel 'share'
unset logscale y
set xrange [*:*]
set yrange [0:1]
plot FILE using 3:(strcol(1) eq 'lfreactor' && strcol(2) eq 'busy' ? $16/1 : 1/0) with linespoints title 'lfreactor', \
     FILE using 3:(strcol(1) eq 'futex' && strcol(2) eq 'busy' ? $16/1 : 1/0) with linespoints title 'futex', \
     FILE using 3:(strcol(1) eq 'futex-always' && strcol(2) eq 'busy' ? $16/1 : 1/0) with linespoints title 'futex-always', \
     FILE using 3:(strcol(1) eq 'eventfd' && strcol(2) eq 'busy' ? $16/1 : 1/0) with linespoints title 'eventfd', \
     FILE using 3:(strcol(1) eq 'ck_ec' && strcol(2) eq 'busy' ? $16/1 : 1/0) with linespoints title 'ck_ec'
unset multiplot
