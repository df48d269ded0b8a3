# AUROC against corruption severity (over-confident regime, cnn, standard)
# re-plot: gnuplot fig4_auroc_cnn.gp (writes fig4_auroc_cnn.png)
if (!exists("outfile")) outfile = 'fig4_auroc_cnn.png'
set terminal pngcairo size 1000,620 noenhanced font 'sans,11'
set output outfile
set title 'AUROC against corruption severity (over-confident regime, cnn, standard)'
set xlabel 'corruption severity (0 = clean; mean over kinds)'
set ylabel 'AUROC (higher is better)'
set key outside right top Left reverse samplen 5 spacing 1.2
set grid
$s0 << EOD
0 0.8331155202
1 0.843047899
2 0.8511609546
3 0.8495616055
4 0.8311562916
5 0.8092340475
EOD
$s1 << EOD
0 0.8329571106
1 0.8430900548
2 0.8511923283
3 0.8496113881
4 0.8314232588
5 0.8089349913
EOD
$s2 << EOD
0 0.844105184
1 0.8494776265
2 0.8548012253
3 0.8515877695
4 0.8298381026
5 0.8041748232
EOD
$s3 << EOD
0 0.8372737713
1 0.845474929
2 0.8529892554
3 0.8514568484
4 0.8291692492
5 0.8045385582
EOD
plot keyentry with lines lc rgb '#FFFFFF' title 'softmax scores:', \
     $s0 using 1:2 with lines lw 2 lc rgb '#000000' dt (8,4) title 'msr', \
     $s1 using 1:2 with lines lw 2 lc rgb '#E69F00' dt (2,3) title 'doctor', keyentry with lines lc rgb '#FFFFFF' title 'robust radius:', \
     $s2 using 1:2 with linespoints lw 2.5 lc rgb '#56B4E9' dt solid pt 8 ps 1.3 pointinterval -1 title 'rr-bs', \
     $s3 using 1:2 with linespoints lw 2.5 lc rgb '#009E73' dt solid pt 10 ps 1.3 pointinterval -1 title 'rr-fast'
