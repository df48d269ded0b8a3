# Risk of the clean-calibrated SGR threshold under corruption (regularised regime, mlp)
# re-plot: gnuplot fig4_threshold_risk_mlp.gp (writes fig4_threshold_risk_mlp.png)
if (!exists("outfile")) outfile = 'fig4_threshold_risk_mlp.png'
set terminal pngcairo size 1000,620 noenhanced font 'sans,11'
set output outfile
set title 'Risk of the clean-calibrated SGR threshold under corruption (regularised regime, mlp)'
set xlabel 'corruption severity (0 = clean; mean over kinds)'
set ylabel 'selective risk % among the inputs kept'
set key outside right top Left reverse samplen 5 spacing 1.2
set grid
$s0 << EOD
0 3.520691785
1 4.024846334
2 5.037570421
3 6.840285107
4 10.1731703
5 14.8802684
EOD
$s1 << EOD
0 3.650990099
1 3.995191005
2 4.958973697
3 6.761317343
4 10.02534236
5 14.7046015
EOD
$s2 << EOD
0 5
5 5
EOD
$s3 << EOD
0 4.262086514
1 4.887086498
2 5.926352204
3 8.2686475
4 10.94659718
5 15.17503025
EOD
$s4 << EOD
0 4.230769231
1 5.058811713
2 6.215016753
3 8.440397717
4 11.38866572
5 15.51799659
EOD
plot keyentry with lines lc rgb '#FFFFFF' title 'softmax scores:', \
     $s0 using 1:2 with lines lw 2 lc rgb '#000000' dt (8,4) title 'msr', \
     $s1 using 1:2 with lines lw 2 lc rgb '#E69F00' dt (2,3) title 'doctor', \
     $s2 using 1:2 with lines lw 2 lc rgb '#56B4E9' dt (12,4,2,4) title 'target risk', keyentry with lines lc rgb '#FFFFFF' title 'robust radius:', \
     $s3 using 1:2 with linespoints lw 2.5 lc rgb '#009E73' dt solid pt 10 ps 1.3 pointinterval -1 title 'rr-bs', \
     $s4 using 1:2 with linespoints lw 2.5 lc rgb '#D55E00' dt solid pt 12 ps 1.3 pointinterval -1 title 'rr-fast'
