// rve_porous_electrode.geo -- 2D periodic RVE of a porous battery electrode:
// circular active-material particles in a connected electrolyte-filled pore space.
//
// Frame: cell [0,1]x[0,1] in the z=0 plane, corner at the origin, dimensionless
// lengths (relative to the cell size).
//
// Microstructure (fixed list, no randomness): 9 large particles of radius r_big on
// a 3x3 square lattice (centres at (2i+1)/6, (2j+1)/6, i,j = 0..2) plus 4 small
// particles of radius r_small in the interior interstices (centres at 1/3 and 2/3).
// The arrangement is consistent with the periodic images (large particles are 1/3
// apart across the cell boundary too). No particle touches another particle or the
// cell boundary, so the electrolyte percolates in both directions and the cell
// boundary is four straight lines. Defaults: porosity 1 - pi(9 r_big^2 + 4 r_small^2)
// = 0.4043; narrowest pore throats: large-small 0.0207, large-boundary 0.0317,
// large-large 0.0633. Parsing stops with an Error if the radii make particles
// touch each other or the boundary (closer than `gap_min`).
//
// Physical groups:
//   surfaces (2): "particles" (all particles), "electrolyte" (pore phase)
//   curves   (1): "left" (x=0), "right" (x=1), "bottom" (y=0), "top" (y=1)
// Periodic mesh: right = left + (1,0); top = bottom + (0,1).
//
// Built-in kernel; each circle is made of four quarter arcs.

DefineConstant[
  r_big = {0.135, Min 0.01, Max 0.16, Step 0.005, Name "Parameters/r_big"},      // radius of the 9 large particles
  r_small = {0.08, Min 0.0, Max 0.1, Step 0.005, Name "Parameters/r_small"},     // radius of the 4 small particles (0: none)
  gap_min = {0.005, Min 0, Max 0.05, Step 0.001, Name "Parameters/gap_min"},     // smallest allowed particle-particle / particle-boundary distance
  h = {0.035, Min 0.002, Max 0.1, Step 0.005, Name "Parameters/h"}                // characteristic mesh size (cell units)
];

// ---- particle list ----------------------------------------------------------------
xs() = {};
ys() = {};
rs() = {};
For i In {0:2}
  For j In {0:2}
    xs() += {(2 * i + 1) / 6};
    ys() += {(2 * j + 1) / 6};
    rs() += {r_big};
  EndFor
EndFor
If (r_small > 0)
  For i In {1:2}
    For j In {1:2}
      xs() += {i / 3};
      ys() += {j / 3};
      rs() += {r_small};
    EndFor
  EndFor
EndIf
np = #xs();

// ---- sanity checks: particles separated from each other and from the boundary ---
For i In {0:np - 1}
  If (rs(i) <= 0 || xs(i) - rs(i) < gap_min || ys(i) - rs(i) < gap_min ||
      1 - xs(i) - rs(i) < gap_min || 1 - ys(i) - rs(i) < gap_min)
    Error("rve_porous_electrode.geo: particle %g (r = %g) too close to the cell boundary", i, rs(i));
  EndIf
  For j In {0:np - 1}
    If (j > i)
      If (Sqrt((xs(i) - xs(j))^2 + (ys(i) - ys(j))^2) - rs(i) - rs(j) < gap_min)
        Error("rve_porous_electrode.geo: particles %g and %g overlap or touch", i, j);
      EndIf
    EndIf
  EndFor
EndFor

// ---- geometry ------------------------------------------------------------------
Point(1) = {0, 0, 0, h};
Point(2) = {1, 0, 0, h};
Point(3) = {1, 1, 0, h};
Point(4) = {0, 1, 0, h};
// opposite sides have the same orientation (needed for the periodic copies)
Line(1) = {1, 2};  // bottom
Line(2) = {2, 3};  // right
Line(3) = {4, 3};  // top
Line(4) = {1, 4};  // left
Curve Loop(1) = {1, 2, -3, -4};

holes() = {};
parts() = {};
For i In {0:np - 1}
  pc = newp;
  Point(pc) = {xs(i), ys(i), 0, h};
  Point(pc + 1) = {xs(i) + rs(i), ys(i), 0, h};
  Point(pc + 2) = {xs(i), ys(i) + rs(i), 0, h};
  Point(pc + 3) = {xs(i) - rs(i), ys(i), 0, h};
  Point(pc + 4) = {xs(i), ys(i) - rs(i), 0, h};
  c = newc;
  Circle(c) = {pc + 1, pc, pc + 2};
  Circle(c + 1) = {pc + 2, pc, pc + 3};
  Circle(c + 2) = {pc + 3, pc, pc + 4};
  Circle(c + 3) = {pc + 4, pc, pc + 1};
  cl = newcl;
  Curve Loop(cl) = {c, c + 1, c + 2, c + 3};
  holes() += {cl};
  sf = news;
  Plane Surface(sf) = {cl};
  parts() += {sf};
EndFor

se = news;
Plane Surface(se) = {1, holes()};  // electrolyte

Periodic Curve {2} = {4} Translate {1, 0, 0};
Periodic Curve {3} = {1} Translate {0, 1, 0};

Physical Surface("particles") = {parts()};
Physical Surface("electrolyte") = {se};
Physical Curve("left") = {4};
Physical Curve("right") = {2};
Physical Curve("bottom") = {1};
Physical Curve("top") = {3};
