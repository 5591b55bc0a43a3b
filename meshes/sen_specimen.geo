// sen_specimen.geo -- single-edge-notched square for phase-field fracture
// (Miehe, Hofacker, Welschinger 2010, tension/shear tests).
//
// Frame: z=0 plane, [0,1]x[0,1] in mm. A straight notch runs from the middle of
// the left edge, (0,0.5), to the centre, (0.5,0.5).
//
// Notch model: a zero-width slit. The square is split along y = 0.5 into a lower
// and an upper surface (built-in kernel). For x >= 0.5 they share the line
// (0.5,0.5)-(1,0.5) (intact ligament, conforming mesh); for x <= 0.5 each surface
// has its own copy of the notch line, between two coincident but distinct points
// at the notch mouth (0,0.5) and the shared crack-tip point (0.5,0.5). The two
// crack faces therefore have separate (duplicated) nodes and only the tip node is
// shared: the faces are traction-free and can open. (A single surface whose
// boundary loop runs around the slit cannot be meshed: gmsh fails to recover the
// coincident edges.) "domain" contains both surfaces; "left" consists of two
// curves (below and above the notch), and so does "notch" (lower and upper face).
//
// Mesh: size h_fine in a horizontal band |y-0.5| <= band (and x >= 0.5 - band,
// i.e. around the tip and along the expected tension crack path), h_coarse
// elsewhere, with a transition layer of width `transition` (Box field). The band
// suits the tension test (straight crack); shear = 1 extends it from the band down to
// y = 0 (x >= 0.5 - band) for the shear test, whose crack curves towards the bottom right
// corner.
//
// Physical groups:
//   surface (2): "domain"
//   curves  (1): "bottom" (y=0), "top" (y=1), "left" (x=0, both parts),
//                "right" (x=1, both parts), "notch" (both crack faces)

DefineConstant[
  h_coarse = {0.05, Min 1e-4, Max 0.5, Name "Parameters/h_coarse"},    // element size away from the crack path [mm]
  h_fine = {0.0075, Min 1e-4, Max 0.5, Name "Parameters/h_fine"},      // element size in the band (l/2 for l = 0.015 mm) [mm]
  band = {0.05, Min 0, Max 0.5, Name "Parameters/band"},               // half-height of the refined band around y=0.5 [mm]
  transition = {0.1, Min 0, Max 1, Name "Parameters/transition"},      // width of the size transition outside the band [mm]
  shear = {0, Choices{0, 1}, Name "Parameters/shear"}                  // 1: refine below the band down to y = 0 too (shear crack path)
];

Point(1) = {0, 0, 0, h_coarse};
Point(2) = {1, 0, 0, h_coarse};
Point(3) = {1, 0.5, 0, h_coarse};   // right end of the ligament
Point(4) = {1, 1, 0, h_coarse};
Point(5) = {0, 1, 0, h_coarse};
Point(6) = {0.5, 0.5, 0, h_fine};   // notch tip (shared by both faces)
Point(7) = {0, 0.5, 0, h_coarse};   // notch mouth, lower face
Point(8) = {0, 0.5, 0, h_coarse};   // notch mouth, upper face (coincides with point 7)

Line(1) = {1, 2};   // bottom
Line(2) = {2, 3};   // right, lower part
Line(3) = {3, 4};   // right, upper part
Line(4) = {4, 5};   // top
Line(5) = {5, 8};   // left, upper part
Line(6) = {7, 1};   // left, lower part
Line(7) = {6, 3};   // ligament y=0.5, x>=0.5 (interior, shared)
Line(8) = {7, 6};   // notch, lower face
Line(9) = {8, 6};   // notch, upper face

Curve Loop(1) = {1, 2, -7, -8, 6};    // lower half
Curve Loop(2) = {7, 3, 4, 5, 9};      // upper half
Plane Surface(1) = {1};
Plane Surface(2) = {2};

Field[1] = Box;
Field[1].VIn = h_fine;
Field[1].VOut = h_coarse;
Field[1].XMin = 0.5 - band;
Field[1].XMax = 1;
If (shear)  // the shear crack curves from the tip towards the bottom right corner
  Field[1].YMin = 0;
Else        // the tension crack runs straight along the ligament
  Field[1].YMin = 0.5 - band;
EndIf
Field[1].YMax = 0.5 + band;
Field[1].ZMin = -1;
Field[1].ZMax = 1;
Field[1].Thickness = transition;
Background Field = 1;
Mesh.MeshSizeExtendFromBoundary = 0;
Mesh.MeshSizeFromPoints = 0;
Mesh.MeshSizeFromCurvature = 0;

Physical Surface("domain") = {1, 2};
Physical Curve("bottom") = {1};
Physical Curve("top") = {4};
Physical Curve("left") = {5, 6};
Physical Curve("right") = {2, 3};
Physical Curve("notch") = {8, 9};
