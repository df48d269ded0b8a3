# AUROC against corruption severity (regularised regime, mlp, standard)
# re-plot: gnuplot fig4_auroc_mlp.gp (writes fig4_auroc_mlp.png)
if (!exists("outfile")) outfile = 'fig4_auroc_mlp.png'
set terminal pngcairo size 1000,620 noenhanced font 'sans,11'
set output outfile
set title 'AUROC against corruption severity (regularised regime, mlp, standard)'
set xlabel 'corruption severity (0 = clean; mean over kinds)'
set ylabel 'AUROC (higher is better)'
set key outside right top Left reverse samplen 5 spacing 1.2
set grid
$s0 << EOD
0 0.9021818594
1 0.89018986
2 0.8742258409
3 0.8587128546
4 0.8402319026
5 0.8367569682
EOD
$s1 << EOD
0 0.8999423388
1 0.8885940897
2 0.8730939211
3 0.8572107682
4 0.8380204708
5 0.8353560396
EOD
$s2 << EOD
0 0.8603324272
1 0.847330289
2 0.8291429375
3 0.8129395117
4 0.8027087415
5 0.7986394088
EOD
$s3 << EOD
0 0.8603800492
1 0.8482208555
2 0.8290437008
3 0.8122237197
4 0.8018847221
5 0.7964675444
EOD
plot keyentry with lines lc rgb '#FFFFFF' title 'softmax scores:', \
     $s0 using 1:2 with lines lw 2 lc rgb '#000000' dt (8,4) title 'msr', \
     $s1 using 1:2 with lines lw 2 lc rgb '#E69F00' dt (2,3) title 'doctor', keyentry with lines lc rgb '#FFFFFF' title 'robust radius:', \
     $s2 using 1:2 with linespoints lw 2.5 lc rgb '#56B4E9' dt solid pt 8 ps 1.3 pointinterval -1 title 'rr-bs', \
     $s3 using 1:2 with linespoints lw 2.5 lc rgb '#009E73' dt solid pt 10 ps 1.3 pointinterval -1 title 'rr-fast'
