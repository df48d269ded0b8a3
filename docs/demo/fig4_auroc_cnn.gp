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
0 0.8860418978
1 0.8743197189
2 0.86712334
3 0.8552972161
4 0.8373897291
5 0.8110409027
EOD
$s1 << EOD
0 0.8863109049
1 0.8745185671
2 0.8672905672
3 0.855420069
4 0.8376832883
5 0.8107934347
EOD
$s2 << EOD
0 0.8897071186
1 0.879184774
2 0.8703673456
3 0.8582948521
4 0.8399315789
5 0.8112625118
EOD
$s3 << EOD
0 0.8930024547
1 0.8796193849
2 0.870974028
3 0.8588420446
4 0.8401248487
5 0.8119944141
EOD
plot keyentry with lines lc rgb '#FFFFFF' title 'softmax scores:', \
     $s0 using 1:2 with lines lw 2 lc rgb '#000000' dt (8,4) title 'msr', \
     $s1 using 1:2 with lines lw 2 lc rgb '#E69F00' dt (2,3) title 'doctor', keyentry with lines lc rgb '#FFFFFF' title 'robust radius:', \
     $s2 using 1:2 with linespoints lw 2.5 lc rgb '#56B4E9' dt solid pt 8 ps 1.3 pointinterval -1 title 'rr-bs', \
     $s3 using 1:2 with linespoints lw 2.5 lc rgb '#009E73' dt solid pt 10 ps 1.3 pointinterval -1 title 'rr-fast'
