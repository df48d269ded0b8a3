# Risk of the clean-calibrated SGR threshold under corruption (over-confident regime, cnn)
# re-plot: gnuplot fig4_threshold_risk_cnn.gp (writes fig4_threshold_risk_cnn.png)
if (!exists("outfile")) outfile = 'fig4_threshold_risk_cnn.png'
set terminal pngcairo size 1000,620 noenhanced font 'sans,11'
set output outfile
set title 'Risk of the clean-calibrated SGR threshold under corruption (over-confident regime, cnn)'
set xlabel 'corruption severity (0 = clean; mean over kinds)'
set ylabel 'selective risk % among the inputs kept'
set key outside right top Left reverse samplen 5 spacing 1.2
set grid
$s0 << EOD
0 2.686567164
1 3.210496057
2 3.223964034
3 3.389409284
4 3.662394419
5 3.608928639
EOD
$s1 << EOD
0 2.686567164
1 3.210496057
2 3.223964034
3 3.389409284
4 3.662394419
5 3.608928639
EOD
$s2 << EOD
0 5
5 5
EOD
$s3 << EOD
0 2.906976744
1 3.294665068
2 3.185985153
3 3.400917559
4 3.70437302
5 5.269033471
EOD
$s4 << EOD
0 3.003003003
1 3.108991351
2 2.907810781
3 3.066100474
4 3.156523732
5 11.73418223
EOD
plot keyentry with lines lc rgb '#FFFFFF' title 'softmax scores:', \
     $s0 using 1:2 with lines lw 2 lc rgb '#000000' dt (8,4) title 'msr', \
     $s1 using 1:2 with lines lw 2 lc rgb '#E69F00' dt (2,3) title 'doctor', \
     $s2 using 1:2 with lines lw 2 lc rgb '#56B4E9' dt (12,4,2,4) title 'target risk', keyentry with lines lc rgb '#FFFFFF' title 'robust radius:', \
     $s3 using 1:2 with linespoints lw 2.5 lc rgb '#009E73' dt solid pt 10 ps 1.3 pointinterval -1 title 'rr-bs', \
     $s4 using 1:2 with linespoints lw 2.5 lc rgb '#D55E00' dt solid pt 12 ps 1.3 pointinterval -1 title 'rr-fast'
