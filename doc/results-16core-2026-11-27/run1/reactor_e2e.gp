FILE = 'doc/results-16core-2026-11-27/run1/reactor_e2e.csv'
set terminal pngcairo size 1400,860 noenhanced font ',10'
set output 'doc/results-16core-2026-11-27/run1/reactor_e2e.png'
set datafile separator ','
set key top left font ',9' opaque
set grid
set xtics 1
set offsets 0.2,0.2,0,0
set multiplot layout 3,2 title 'end to end through epoll (eventfds)'
set xlabel 'threads'
set title 'events/s (executors consume and re-arm)'
set ylabel 'M events/s'
unset logscale y
set xrange [*:*]
set yrange [0:*]
plot FILE using 3:(strcol(1) eq 'lfreactor' && strcol(2) eq 'events' ? $5/1e+06 : 1/0) with linespoints title 'lfreactor', \
     FILE using 3:(strcol(1) eq 'seed' && strcol(2) eq 'events' ? $5/1e+06 : 1/0) with linespoints title 'seed', \
     FILE using 3:(strcol(1) eq 'epoll' && strcol(2) eq 'events' ? $5/1e+06 : 1/0) with linespoints title 'epoll', \
     FILE using 3:(strcol(1) eq 'libevent' && strcol(2) eq 'events' ? $5/1e+06 : 1/0) with linespoints title 'libevent'
set title 'events/s, a new waker every re-arm'
set ylabel 'M events/s'
unset logscale y
set xrange [*:*]
set yrange [0:*]
plot FILE using 3:(strcol(1) eq 'lfreactor' && strcol(2) eq 'events-new' ? $5/1e+06 : 1/0) with linespoints title 'lfreactor', \
     FILE using 3:(strcol(1) eq 'seed' && strcol(2) eq 'events-new' ? $5/1e+06 : 1/0) with linespoints title 'seed', \
     FILE using 3:(strcol(1) eq 'epoll' && strcol(2) eq 'events-new' ? $5/1e+06 : 1/0) with linespoints title 'epoll', \
     FILE using 3:(strcol(1) eq 'libevent' && strcol(2) eq 'events-new' ? $5/1e+06 : 1/0) with linespoints title 'libevent'
set title 'write-to-wake p99 while executors re-arm'
set ylabel 'microseconds'
set logscale y
set xrange [*:*]
set yrange [*:*]
plot FILE using 3:(strcol(1) eq 'lfreactor' && strcol(2) eq 'latency' && $21 > 0 ? $21/1000 : 1/0) with linespoints title 'lfreactor', \
     FILE using 3:(strcol(1) eq 'seed' && strcol(2) eq 'latency' && $21 > 0 ? $21/1000 : 1/0) with linespoints title 'seed', \
     FILE using 3:(strcol(1) eq 'epoll' && strcol(2) eq 'latency' && $21 > 0 ? $21/1000 : 1/0) with linespoints title 'epoll', \
     FILE using 3:(strcol(1) eq 'libevent' && strcol(2) eq 'latency' && $21 > 0 ? $21/1000 : 1/0) with linespoints title 'libevent'
set title 'write-to-wake p50 while executors re-arm'
set ylabel 'microseconds'
set logscale y
set xrange [*:*]
set yrange [*:*]
plot FILE using 3:(strcol(1) eq 'lfreactor' && strcol(2) eq 'latency' && $18 > 0 ? $18/1000 : 1/0) with linespoints title 'lfreactor', \
     FILE using 3:(strcol(1) eq 'seed' && strcol(2) eq 'latency' && $18 > 0 ? $18/1000 : 1/0) with linespoints title 'seed', \
     FILE using 3:(strcol(1) eq 'epoll' && strcol(2) eq 'latency' && $18 > 0 ? $18/1000 : 1/0) with linespoints title 'epoll', \
     FILE using 3:(strcol(1) eq 'libevent' && strcol(2) eq 'latency' && $18 > 0 ? $18/1000 : 1/0) with linespoints title 'libevent'
set title 'register+deregister/s'
set ylabel 'M pairs/s'
unset logscale y
set xrange [*:*]
set yrange [0:*]
plot FILE using 3:(strcol(1) eq 'lfreactor' && strcol(2) eq 'churn' ? $10/1e+06 : 1/0) with linespoints title 'lfreactor', \
     FILE using 3:(strcol(1) eq 'seed' && strcol(2) eq 'churn' ? $10/1e+06 : 1/0) with linespoints title 'seed', \
     FILE using 3:(strcol(1) eq 'epoll' && strcol(2) eq 'churn' ? $10/1e+06 : 1/0) with linespoints title 'epoll', \
     FILE using 3:(strcol(1) eq 'libevent' && strcol(2) eq 'churn' ? $10/1e+06 : 1/0) with linespoints title 'libevent'
unset multiplot
