// electrode_sandwich.geo -- 2D cell sandwich (Newman-type P2D geometry):
// negative electrode | separator | positive electrode, x is through-thickness.
//
// Frame: z=0 plane, lengths in metres. x in [0, L_n+L_s+L_p], y in [0, H]:
//   negative electrode  0           <= x <= L_n
//   separator           L_n         <= x <= L_n+L_s
//   positive electrode  L_n+L_s     <= x <= L_n+L_s+L_p
//
// Physical groups:
//   surfaces (2): "negative_electrode", "separator", "positive_electrode"
//   curves   (1): "negative_current_collector" (x=0),
//                 "positive_current_collector" (x=L_n+L_s+L_p),
//                 "bottom" (y=0, three curves), "top" (y=H, three curves)
// Mesh: structured (transfinite) triangles, n_n / n_s / n_p elements through the
// layers and n_y along the height; the layer interfaces are shared (conforming).

DefineConstant[
  L_n = {100e-6, Min 1e-7, Max 1e-2, Name "Parameters/L_n"},   // negative electrode thickness [m]
  L_s = {25e-6, Min 1e-7, Max 1e-2, Name "Parameters/L_s"},    // separator thickness [m]
  L_p = {100e-6, Min 1e-7, Max 1e-2, Name "Parameters/L_p"},   // positive electrode thickness [m]
  H = {20e-6, Min 1e-7, Max 1e-2, Name "Parameters/H"},        // strip height [m]
  n_n = {30, Min 1, Max 1000, Step 1, Name "Parameters/n_n"},  // elements through the negative electrode
  n_s = {20, Min 1, Max 1000, Step 1, Name "Parameters/n_s"},  // elements through the separator
  n_p = {30, Min 1, Max 1000, Step 1, Name "Parameters/n_p"},  // elements through the positive electrode
  n_y = {6, Min 1, Max 1000, Step 1, Name "Parameters/n_y"}    // elements along the height
];

x1 = L_n;
x2 = L_n + L_s;
x3 = L_n + L_s + L_p;

Point(1) = {0, 0, 0};
Point(2) = {x1, 0, 0};
Point(3) = {x2, 0, 0};
Point(4) = {x3, 0, 0};
Point(5) = {0, H, 0};
Point(6) = {x1, H, 0};
Point(7) = {x2, H, 0};
Point(8) = {x3, H, 0};

Line(1) = {1, 2};   // bottom, negative electrode
Line(2) = {2, 3};   // bottom, separator
Line(3) = {3, 4};   // bottom, positive electrode
Line(4) = {5, 6};   // top, negative electrode
Line(5) = {6, 7};   // top, separator
Line(6) = {7, 8};   // top, positive electrode
Line(7) = {1, 5};   // negative current collector
Line(8) = {2, 6};   // negative electrode | separator
Line(9) = {3, 7};   // separator | positive electrode
Line(10) = {4, 8};  // positive current collector

Curve Loop(1) = {1, 8, -4, -7};
Curve Loop(2) = {2, 9, -5, -8};
Curve Loop(3) = {3, 10, -6, -9};
Plane Surface(1) = {1};
Plane Surface(2) = {2};
Plane Surface(3) = {3};

Transfinite Curve{1, 4} = n_n + 1;
Transfinite Curve{2, 5} = n_s + 1;
Transfinite Curve{3, 6} = n_p + 1;
Transfinite Curve{7, 8, 9, 10} = n_y + 1;
Transfinite Surface{1} = {1, 2, 6, 5};
Transfinite Surface{2} = {2, 3, 7, 6};
Transfinite Surface{3} = {3, 4, 8, 7};

Physical Surface("negative_electrode") = {1};
Physical Surface("separator") = {2};
Physical Surface("positive_electrode") = {3};
Physical Curve("negative_current_collector") = {7};
Physical Curve("positive_current_collector") = {10};
Physical Curve("bottom") = {1, 2, 3};
Physical Curve("top") = {4, 5, 6};
