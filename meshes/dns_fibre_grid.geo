// dns_fibre_grid.geo -- 2D specimen for direct numerical simulation (DNS): the unit square
// made of n x n copies of the rve_square.geo cell, each with a central circular fibre.
//
// Frame: specimen [0,1]x[0,1] in the z=0 plane, corner at the origin. Cell (i, j) is
// [i/n, (i+1)/n] x [j/n, (j+1)/n] with its fibre centred at ((i+1/2)/n, (j+1/2)/n) and of
// radius R/n. R and h are in cell units (as in rve_square.geo), so every cell is meshed like
// the RVE scaled by 1/n whatever n is. The fibres never touch the specimen boundary (R < 0.5).
//
// Physical groups:
//   surfaces (2): "matrix" (one surface with n^2 holes), "inclusion" (n^2 disks)
//   curves   (1): "left" (x=0), "right" (x=1), "bottom" (y=0), "top" (y=1)
//
// OpenCASCADE kernel: the disks are fragmented out of the square; groups are found by
// bounding boxes. Not meshed periodically (a specimen, not an RVE).

SetFactory("OpenCASCADE");

DefineConstant[
  n = {2, Min 1, Max 64, Step 1, Name "Parameters/n"},               // cells per side
  R = {0.25, Min 0.01, Max 0.45, Step 0.01, Name "Parameters/R"},    // fibre radius (cell units)
  h = {0.05, Min 0.005, Max 0.2, Step 0.005, Name "Parameters/h"}    // mesh size (cell units)
];

If (n < 1 || n != Floor(n))
  Error("dns_fibre_grid.geo: n must be a positive integer (got n = %g)", n);
EndIf
If (R <= 0 || R >= 0.5)
  Error("dns_fibre_grid.geo: need 0 < R < 0.5 (got R = %g)", R);
EndIf

a = 1 / n;  // cell side
Rectangle(1) = {0, 0, 0, 1, 1};
For i In {0 : n - 1}
  For j In {0 : n - 1}
    Disk(2 + i * n + j) = {(i + 0.5) * a, (j + 0.5) * a, 0, R * a};
  EndFor
EndFor
BooleanFragments{ Surface{1}; Delete; }{ Surface{2 : n * n + 1}; Delete; }

eps = 1e-3 * a;
fibres() = {};
For i In {0 : n - 1}
  For j In {0 : n - 1}
    fibres() += Surface In BoundingBox{i * a - eps, j * a - eps, -eps,
                                       (i + 1) * a + eps, (j + 1) * a + eps, eps};
  EndFor
EndFor
// each cell box also holds no other surface: the matrix spans the whole square
If (#fibres() != n * n)
  Error("dns_fibre_grid.geo: found %g fibres, expected %g", #fibres(), n * n);
EndIf
matrix() = Surface{:};
matrix() -= fibres();

MeshSize{ PointsOf{ Surface{:}; } } = h * a;

Physical Surface("matrix") = {matrix()};
Physical Surface("inclusion") = {fibres()};
Physical Curve("left") = Curve In BoundingBox{-eps, -eps, -eps, eps, 1 + eps, eps};
Physical Curve("right") = Curve In BoundingBox{1 - eps, -eps, -eps, 1 + eps, 1 + eps, eps};
Physical Curve("bottom") = Curve In BoundingBox{-eps, -eps, -eps, 1 + eps, eps, eps};
Physical Curve("top") = Curve In BoundingBox{-eps, 1 - eps, -eps, 1 + eps, 1 + eps, eps};
