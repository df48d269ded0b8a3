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
0 4.775280899
1 4.597194783
2 4.043909616
3 4.127947897
4 4.029507556
5 4.325553419
EOD
$s1 << EOD
0 4.775280899
1 4.597194783
2 4.043909616
3 4.127947897
4 4.029507556
5 4.325553419
EOD
$s2 << EOD
0 5
5 5
EOD
$s3 << EOD
0 4.494382022
1 4.127967068
2 4.001921986
3 4.05262696
4 4.219992586
5 6.083500494
EOD
$s4 << EOD
0 4.709141274
1 4.306992748
2 4.047318807
3 4.093958404
4 4.400960683
5 5.155342365
EOD
plot keyentry with lines lc rgb '#FFFFFF' title 'softmax scores:', \
     $s0 using 1:2 with lines lw 2 lc rgb '#000000' dt (8,4) title 'msr', \
     $s1 using 1:2 with lines lw 2 lc rgb '#E69F00' dt (2,3) title 'doctor', \
     $s2 using 1:2 with lines lw 2 lc rgb '#56B4E9' dt (12,4,2,4) title 'target risk', keyentry with lines lc rgb '#FFFFFF' title 'robust radius:', \
     $s3 using 1:2 with linespoints lw 2.5 lc rgb '#009E73' dt solid pt 10 ps 1.3 pointinterval -1 title 'rr-bs', \
     $s4 using 1:2 with linespoints lw 2.5 lc rgb '#D55E00' dt solid pt 12 ps 1.3 pointinterval -1 title 'rr-fast'
