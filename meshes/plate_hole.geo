// plate_hole.geo -- macro specimen: quarter of a square plate with a central
// circular hole (symmetry model of the plate [-W,W]^2 with a hole of radius R_hole).
//
// Frame: z=0 plane, hole centre at the origin; the domain is [0,W]^2 minus the
// quarter disc of radius R_hole at the origin. Lengths in mm.
//
// Physical groups:
//   surface (2): "domain"
//   curves  (1): "left"   (x=0, symmetry edge, R_hole <= y <= W)
//                "bottom" (y=0, symmetry edge, R_hole <= x <= W)
//                "right"  (x=W, loaded edge)
//                "top"    (y=W, free edge)
//                "hole"   (quarter circle of radius R_hole)
// Mesh: size h_hole on the hole, growing linearly with the distance from the hole
// to h_far at distance `grading` (Distance + Threshold fields).

DefineConstant[
  W = {10, Min 1, Max 1000, Name "Parameters/W"},                          // plate half-width [mm]
  R_hole = {2, Min 0.01, Max 999, Name "Parameters/R_hole"},               // hole radius [mm]
  h_hole = {0.08, Min 1e-4, Max 10, Name "Parameters/h_hole"},              // element size at the hole [mm]
  h_far = {0.5, Min 1e-3, Max 100, Name "Parameters/h_far"},               // element size far from the hole [mm]
  grading = {5, Min 0.01, Max 1000, Name "Parameters/grading"}             // distance from the hole over which the size grows [mm]
];

If (R_hole <= 0 || R_hole >= W)
  Error("plate_hole.geo: need 0 < R_hole < W (R_hole = %g, W = %g)", R_hole, W);
EndIf

Point(1) = {0, 0, 0, h_hole};       // hole centre (not meshed)
Point(2) = {R_hole, 0, 0, h_hole};
Point(3) = {W, 0, 0, h_far};
Point(4) = {W, W, 0, h_far};
Point(5) = {0, W, 0, h_far};
Point(6) = {0, R_hole, 0, h_hole};

Line(1) = {2, 3};         // bottom
Line(2) = {3, 4};         // right
Line(3) = {4, 5};         // top
Line(4) = {5, 6};         // left
Circle(5) = {6, 1, 2};    // hole

Curve Loop(1) = {1, 2, 3, 4, 5};
Plane Surface(1) = {1};

Field[1] = Distance;
Field[1].CurvesList = {5};
Field[1].Sampling = 100;
Field[2] = Threshold;
Field[2].InField = 1;
Field[2].SizeMin = h_hole;
Field[2].SizeMax = h_far;
Field[2].DistMin = 0;
Field[2].DistMax = grading;
Background Field = 2;
Mesh.MeshSizeExtendFromBoundary = 0;
Mesh.MeshSizeFromPoints = 0;
Mesh.MeshSizeFromCurvature = 0;

Physical Surface("domain") = {1};
Physical Curve("left") = {4};
Physical Curve("bottom") = {1};
Physical Curve("right") = {2};
Physical Curve("top") = {3};
Physical Curve("hole") = {5};
