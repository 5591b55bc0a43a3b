// rectangle.geo -- a structured rectangle [0, L] x [0, H] for single-scale and FE² strips:
// bars (thermoelasticity), slabs (transient diffusion), one-dimensional closed forms in 2D.
//
// Physical groups:
//   surface (2): "body"
//   curves  (1): "left" (x=0), "right" (x=L), "bottom" (y=0), "top" (y=H)
// Mesh: transfinite triangles, n_x elements along x and n_y along y.

DefineConstant[
  L = {1.0, Min 1e-9, Max 1e9, Name "Parameters/L"},            // length along x [any unit]
  H = {0.1, Min 1e-9, Max 1e9, Name "Parameters/H"},            // height along y
  n_x = {40, Min 1, Max 100000, Step 1, Name "Parameters/n_x"}, // elements along x
  n_y = {2, Min 1, Max 100000, Step 1, Name "Parameters/n_y"}   // elements along y
];

Point(1) = {0, 0, 0};
Point(2) = {L, 0, 0};
Point(3) = {L, H, 0};
Point(4) = {0, H, 0};
Line(1) = {1, 2};
Line(2) = {2, 3};
Line(3) = {3, 4};
Line(4) = {4, 1};
Curve Loop(1) = {1, 2, 3, 4};
Plane Surface(1) = {1};
Transfinite Curve{1, 3} = n_x + 1;
Transfinite Curve{2, 4} = n_y + 1;
Transfinite Surface{1};

Physical Surface("body") = {1};
Physical Curve("left") = {4};
Physical Curve("right") = {2};
Physical Curve("bottom") = {1};
Physical Curve("top") = {3};
