// rve_cube_sphere.geo -- 3D periodic RVE: unit cube with one central spherical inclusion.
//
// Frame: cell [0,1]^3, corner at the origin, sphere centred at (0.5,0.5,0.5).
// Lengths are dimensionless (relative to the cell size).
//
// Physical groups:
//   volumes  (3): "matrix", "inclusion"
//   surfaces (2): "left"/"right" (x=0/1), "bottom"/"top" (y=0/1), "back"/"front" (z=0/1)
// Periodic mesh: right = left + (1,0,0); top = bottom + (0,1,0); front = back + (0,0,1).
//
// OpenCASCADE kernel: box and sphere are fragmented so that the sphere surface is
// shared (conforming interface); entities are then located by bounding boxes.

SetFactory("OpenCASCADE");

DefineConstant[
  R = {0.3, Min 0.01, Max 0.45, Step 0.01, Name "Parameters/R"},  // inclusion radius (cell units)
  h = {0.08, Min 0.01, Max 0.3, Step 0.01, Name "Parameters/h"}    // characteristic mesh size (cell units)
];

If (R <= 0 || R >= 0.5)
  Error("rve_cube_sphere.geo: need 0 < R < 0.5 (got R = %g)", R);
EndIf

Box(1) = {0, 0, 0, 1, 1, 1};
Sphere(2) = {0.5, 0.5, 0.5, R};
BooleanFragments{ Volume{1}; Delete; }{ Volume{2}; Delete; }

e = 1e-6;
incl() = Volume In BoundingBox{0.5 - R - e, 0.5 - R - e, 0.5 - R - e,
                               0.5 + R + e, 0.5 + R + e, 0.5 + R + e};
all() = Volume{:};
mat() = all();
mat() -= incl();
If (#incl() != 1 || #mat() != 1)
  Error("rve_cube_sphere.geo: unexpected fragment result (%g inclusion, %g matrix volumes)",
        #incl(), #mat());
EndIf

sx0() = Surface In BoundingBox{-e, -e, -e, e, 1 + e, 1 + e};
sx1() = Surface In BoundingBox{1 - e, -e, -e, 1 + e, 1 + e, 1 + e};
sy0() = Surface In BoundingBox{-e, -e, -e, 1 + e, e, 1 + e};
sy1() = Surface In BoundingBox{-e, 1 - e, -e, 1 + e, 1 + e, 1 + e};
sz0() = Surface In BoundingBox{-e, -e, -e, 1 + e, 1 + e, e};
sz1() = Surface In BoundingBox{-e, -e, 1 - e, 1 + e, 1 + e, 1 + e};

MeshSize{ PointsOf{ Volume{:}; } } = h;

Periodic Surface{sx1()} = {sx0()} Translate{1, 0, 0};
Periodic Surface{sy1()} = {sy0()} Translate{0, 1, 0};
Periodic Surface{sz1()} = {sz0()} Translate{0, 0, 1};

Physical Volume("matrix") = {mat()};
Physical Volume("inclusion") = {incl()};
Physical Surface("left") = {sx0()};
Physical Surface("right") = {sx1()};
Physical Surface("bottom") = {sy0()};
Physical Surface("top") = {sy1()};
Physical Surface("back") = {sz0()};
Physical Surface("front") = {sz1()};
