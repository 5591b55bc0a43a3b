// rve_square.geo -- 2D periodic RVE: unit square with one central circular inclusion.
//
// Frame: cell [0,1]x[0,1] in the z=0 plane, corner at the origin; the inclusion
// is centred at (0.5, 0.5). Lengths are dimensionless (relative to the cell size).
//
// Physical groups:
//   surfaces (2): "matrix", "inclusion"
//   curves   (1): "left" (x=0), "right" (x=1), "bottom" (y=0), "top" (y=1)
// Periodic mesh: right = left + (1,0); top = bottom + (0,1) (matching nodes).
//
// Built-in kernel; the circle is made of four quarter arcs.

DefineConstant[
  R = {0.25, Min 0.01, Max 0.45, Step 0.01, Name "Parameters/R"},  // inclusion radius (cell units)
  h = {0.05, Min 0.005, Max 0.2, Step 0.005, Name "Parameters/h"}  // characteristic mesh size (cell units)
];

If (R <= 0 || R >= 0.5)
  Error("rve_square.geo: need 0 < R < 0.5 (got R = %g)", R);
EndIf

// cell corners
Point(1) = {0, 0, 0, h};
Point(2) = {1, 0, 0, h};
Point(3) = {1, 1, 0, h};
Point(4) = {0, 1, 0, h};
// opposite sides have the same orientation (needed for the periodic copies)
Line(1) = {1, 2};  // bottom
Line(2) = {2, 3};  // right
Line(3) = {4, 3};  // top
Line(4) = {1, 4};  // left

// inclusion
Point(5) = {0.5, 0.5, 0, h};
Point(6) = {0.5 + R, 0.5, 0, h};
Point(7) = {0.5, 0.5 + R, 0, h};
Point(8) = {0.5 - R, 0.5, 0, h};
Point(9) = {0.5, 0.5 - R, 0, h};
Circle(5) = {6, 5, 7};
Circle(6) = {7, 5, 8};
Circle(7) = {8, 5, 9};
Circle(8) = {9, 5, 6};

Curve Loop(1) = {1, 2, -3, -4};
Curve Loop(2) = {5, 6, 7, 8};
Plane Surface(1) = {1, 2};  // matrix
Plane Surface(2) = {2};     // inclusion

Periodic Curve {2} = {4} Translate {1, 0, 0};
Periodic Curve {3} = {1} Translate {0, 1, 0};

Physical Surface("matrix") = {1};
Physical Surface("inclusion") = {2};
Physical Curve("left") = {4};
Physical Curve("right") = {2};
Physical Curve("bottom") = {1};
Physical Curve("top") = {3};
