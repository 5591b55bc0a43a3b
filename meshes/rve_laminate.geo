// rve_laminate.geo -- 2D periodic RVE of a two-phase laminate, layers normal to x2.
//
// Frame: cell [0,1]x[0,1] in the z=0 plane, corner at the origin. The single
// interface is the horizontal line y = f:
//   "layer_a" occupies 0 <= y < f   (volume fraction f),
//   "layer_b" occupies f <= y <= 1  (volume fraction 1-f).
//
// Physical groups:
//   surfaces (2): "layer_a", "layer_b"
//   curves   (1): "left" (x=0, two curves), "right" (x=1, two curves),
//                 "bottom" (y=0), "top" (y=1)
// Periodic mesh: right = left + (1,0); top = bottom + (0,1).
// Structured (transfinite) triangle mesh, about h x h squares split in two.

DefineConstant[
  f = {0.5, Min 0.05, Max 0.95, Step 0.05, Name "Parameters/f"},   // volume fraction of layer_a (interface at y=f)
  h = {0.05, Min 0.005, Max 0.25, Step 0.005, Name "Parameters/h"} // characteristic mesh size (cell units)
];

If (f <= 0 || f >= 1)
  Error("rve_laminate.geo: need 0 < f < 1 (got f = %g)", f);
EndIf

Point(1) = {0, 0, 0, h};
Point(2) = {1, 0, 0, h};
Point(3) = {1, f, 0, h};
Point(4) = {0, f, 0, h};
Point(5) = {1, 1, 0, h};
Point(6) = {0, 1, 0, h};

// opposite sides have the same orientation (needed for the periodic copies)
Line(1) = {1, 2};  // bottom
Line(2) = {2, 3};  // right, layer a
Line(3) = {4, 3};  // interface
Line(4) = {1, 4};  // left, layer a
Line(5) = {3, 5};  // right, layer b
Line(6) = {6, 5};  // top
Line(7) = {4, 6};  // left, layer b

Curve Loop(1) = {1, 2, -3, -4};
Curve Loop(2) = {3, 5, -6, -7};
Plane Surface(1) = {1};  // layer a
Plane Surface(2) = {2};  // layer b

nx = Ceil(1 / h) + 1;
nya = Ceil(f / h) + 1;
nyb = Ceil((1 - f) / h) + 1;
Transfinite Curve{1, 3, 6} = nx;
Transfinite Curve{2, 4} = nya;
Transfinite Curve{5, 7} = nyb;
Transfinite Surface{1} = {1, 2, 3, 4};
Transfinite Surface{2} = {4, 3, 5, 6};

Periodic Curve {2} = {4} Translate {1, 0, 0};
Periodic Curve {5} = {7} Translate {1, 0, 0};
Periodic Curve {6} = {1} Translate {0, 1, 0};

Physical Surface("layer_a") = {1};
Physical Surface("layer_b") = {2};
Physical Curve("left") = {4, 7};
Physical Curve("right") = {2, 5};
Physical Curve("bottom") = {1};
Physical Curve("top") = {6};
