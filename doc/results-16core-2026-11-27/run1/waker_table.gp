FILE = 'doc/results-16core-2026-11-27/run1/waker_table.csv'
set terminal pngcairo size 1400,860 noenhanced font ',10'
set output 'doc/results-16core-2026-11-27/run1/waker_table.png'
set datafile separator ','
set key top left font ',9' opaque
set grid
set xtics 1
set offsets 0.2,0.2,0,0
set multiplot layout 2,3 title 'waker table: executors set wakers while one thread looks ids up and wakes'
set xlabel 'executor threads'
set title 'set_waker/s, same'
set ylabel 'M set_waker/s'
unset logscale y
set xrange [*:*]
set yrange [0:*]
plot FILE using 3:(strcol(1) eq 'lfreactor' && strcol(2) eq 'same' && $3 > 0 ? $5/1e+06 : 1/0) with linespoints title 'lfreactor', \
     FILE using 3:(strcol(1) eq 'seed' && strcol(2) eq 'same' && $3 > 0 ? $5/1e+06 : 1/0) with linespoints title 'seed', \
     FILE using 3:(strcol(1) eq 'rwlock' && strcol(2) eq 'same' && $3 > 0 ? $5/1e+06 : 1/0) with linespoints title 'rwlock', \
     FILE using 3:(strcol(1) eq 'ck_ht' && strcol(2) eq 'same' && $3 > 0 ? $5/1e+06 : 1/0) with linespoints title 'ck_ht'
set title 'set_waker/s, new'
set ylabel 'M set_waker/s'
unset logscale y
set xrange [*:*]
set yrange [0:*]
plot FILE using 3:(strcol(1) eq 'lfreactor' && strcol(2) eq 'new' && $3 > 0 ? $5/1e+06 : 1/0) with linespoints title 'lfreactor', \
     FILE using 3:(strcol(1) eq 'seed' && strcol(2) eq 'new' && $3 > 0 ? $5/1e+06 : 1/0) with linespoints title 'seed', \
     FILE using 3:(strcol(1) eq 'rwlock' && strcol(2) eq 'new' && $3 > 0 ? $5/1e+06 : 1/0) with linespoints title 'rwlock', \
     FILE using 3:(strcol(1) eq 'ck_ht' && strcol(2) eq 'new' && $3 > 0 ? $5/1e+06 : 1/0) with linespoints title 'ck_ht'
set title 'set_waker/s, churn'
set ylabel 'M set_waker/s'
unset logscale y
set xrange [*:*]
set yrange [0:*]
plot FILE using 3:(strcol(1) eq 'lfreactor' && strcol(2) eq 'churn' && $3 > 0 ? $5/1e+06 : 1/0) with linespoints title 'lfreactor', \
     FILE using 3:(strcol(1) eq 'seed' && strcol(2) eq 'churn' && $3 > 0 ? $5/1e+06 : 1/0) with linespoints title 'seed', \
     FILE using 3:(strcol(1) eq 'rwlock' && strcol(2) eq 'churn' && $3 > 0 ? $5/1e+06 : 1/0) with linespoints title 'rwlock', \
     FILE using 3:(strcol(1) eq 'ck_ht' && strcol(2) eq 'churn' && $3 > 0 ? $5/1e+06 : 1/0) with linespoints title 'ck_ht'
set title 'epoll-side lookups, same'
set ylabel 'fraction of solo rate'
unset logscale y
set xrange [*:*]
set yrange [0:*]
plot FILE using 3:(strcol(1) eq 'lfreactor' && strcol(2) eq 'same' ? $12/1 : 1/0) with linespoints title 'lfreactor', \
     FILE using 3:(strcol(1) eq 'seed' && strcol(2) eq 'same' ? $12/1 : 1/0) with linespoints title 'seed', \
     FILE using 3:(strcol(1) eq 'rwlock' && strcol(2) eq 'same' ? $12/1 : 1/0) with linespoints title 'rwlock', \
     FILE using 3:(strcol(1) eq 'ck_ht' && strcol(2) eq 'same' ? $12/1 : 1/0) with linespoints title 'ck_ht'
set title 'epoll-side lookups, new'
set ylabel 'fraction of solo rate'
unset logscale y
set xrange [*:*]
set yrange [0:*]
plot FILE using 3:(strcol(1) eq 'lfreactor' && strcol(2) eq 'new' ? $12/1 : 1/0) with linespoints title 'lfreactor', \
     FILE using 3:(strcol(1) eq 'seed' && strcol(2) eq 'new' ? $12/1 : 1/0) with linespoints title 'seed', \
     FILE using 3:(strcol(1) eq 'rwlock' && strcol(2) eq 'new' ? $12/1 : 1/0) with linespoints title 'rwlock', \
     FILE using 3:(strcol(1) eq 'ck_ht' && strcol(2) eq 'new' ? $12/1 : 1/0) with linespoints title 'ck_ht'
set title 'epoll-side lookups, churn'
set ylabel 'fraction of solo rate'
unset logscale y
set xrange [*:*]
set yrange [0:*]
plot FILE using 3:(strcol(1) eq 'lfreactor' && strcol(2) eq 'churn' ? $12/1 : 1/0) with linespoints title 'lfreactor', \
     FILE using 3:(strcol(1) eq 'seed' && strcol(2) eq 'churn' ? $12/1 : 1/0) with linespoints title 'seed', \
     FILE using 3:(strcol(1) eq 'rwlock' && strcol(2) eq 'churn' ? $12/1 : 1/0) with linespoints title 'rwlock', \
     FILE using 3:(strcol(1) eq 'ck_ht' && strcol(2) eq 'churn' ? $12/1 : 1/0) with linespoints title 'ck_ht'
unset multiplot
