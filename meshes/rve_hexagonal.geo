// rve_hexagonal.geo -- 2D periodic RVE of a hexagonal (triangular) lattice of
// circular inclusions, as a parallelogram unit cell.
//
// Frame: z=0 plane, lattice vectors a1 = (1,0), a2 = (1/2, sqrt(3)/2) (unit
// lattice spacing); cell vertices (0,0), (1,0), (1.5,sqrt(3)/2), (0.5,sqrt(3)/2);
// inclusion centred at the cell centre (0.75, sqrt(3)/4). Cell area sqrt(3)/2.
// Default R = 0.2: inclusion volume fraction pi R^2/(sqrt(3)/2) = 0.1451.
//
// Physical groups:
//   surfaces (2): "matrix", "inclusion"
//   curves   (1): "bottom" (y=0), "top" (y=sqrt(3)/2),
//                 "left"  (slanted side (0,0)-(0.5,sqrt(3)/2)),
//                 "right" (slanted side (1,0)-(1.5,sqrt(3)/2))
// Periodic mesh: right = left + (1,0); top = bottom + (0.5, sqrt(3)/2).
//
// Built-in kernel; the circle is made of four quarter arcs.

DefineConstant[
  R = {0.2, Min 0.01, Max 0.4, Step 0.01, Name "Parameters/R"},    // inclusion radius (lattice spacing units)
  h = {0.04, Min 0.005, Max 0.2, Step 0.005, Name "Parameters/h"}  // characteristic mesh size (lattice spacing units)
];

s3 = Sqrt(3) / 2;
xc = 0.75;
yc = s3 / 2;
// the inclusion must stay inside the parallelogram: the distance from the centre
// to the slanted sides is sqrt(3)/4, to the horizontal sides sqrt(3)/4 as well
If (R <= 0 || R >= s3 / 2)
  Error("rve_hexagonal.geo: need 0 < R < sqrt(3)/4 = %g (got R = %g)", s3 / 2, R);
EndIf

Point(1) = {0, 0, 0, h};
Point(2) = {1, 0, 0, h};
Point(3) = {1.5, s3, 0, h};
Point(4) = {0.5, s3, 0, h};
// opposite sides have the same orientation (needed for the periodic copies)
Line(1) = {1, 2};  // bottom
Line(2) = {2, 3};  // right
Line(3) = {4, 3};  // top
Line(4) = {1, 4};  // left

Point(5) = {xc, yc, 0, h};
Point(6) = {xc + R, yc, 0, h};
Point(7) = {xc, yc + R, 0, h};
Point(8) = {xc - R, yc, 0, h};
Point(9) = {xc, yc - R, 0, h};
Circle(5) = {6, 5, 7};
Circle(6) = {7, 5, 8};
Circle(7) = {8, 5, 9};
Circle(8) = {9, 5, 6};

Curve Loop(1) = {1, 2, -3, -4};
Curve Loop(2) = {5, 6, 7, 8};
Plane Surface(1) = {1, 2};  // matrix
Plane Surface(2) = {2};     // inclusion

Periodic Curve {2} = {4} Translate {1, 0, 0};
Periodic Curve {3} = {1} Translate {0.5, s3, 0};

Physical Surface("matrix") = {1};
Physical Surface("inclusion") = {2};
Physical Curve("left") = {4};
Physical Curve("right") = {2};
Physical Curve("bottom") = {1};
Physical Curve("top") = {3};
