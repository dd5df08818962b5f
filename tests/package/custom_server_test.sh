#!/bin/sh
# examples/custom-server built the way a game developer builds it: craft installed into a
# prefix with `cmake --install` (no rebuild: the test runs after craft's build), then the
# example configured with find_package(craft) against that prefix, built, and its own ctest
# run. Registered in tests/CMakeLists.txt as custom_server_find_package.
#   custom_server_test.sh <craft build dir> <craft source dir> <work dir> <generator> <build type> <c++ compiler>
set -eu
craft_build=$1 craft_src=$2 work=$3 generator=$4 build_type=$5 cxx=$6

rm -rf "$work"
mkdir -p "$work"
cmake --install "$craft_build" --prefix "$work/prefix" --component development >"$work/install.log"

# What a game sees: include/craft only, and no header there pulls in craft's private src/
# headers (quoted includes) or generated protobuf code.
if grep -rnE '#include +"|\.pb\.h' "$work/prefix/include"; then
  echo "FAIL: an installed header includes a private or generated header (above)" >&2
  exit 1
fi
test -f "$work/prefix/lib/cmake/craft/craftConfig.cmake"
test -f "$work/prefix/lib/cmake/craft/craftConfigVersion.cmake"
test -f "$work/prefix/include/craft/server.hpp"

# The compiler craft was built with (its static libraries' C++ runtime); ccache if there is one.
launcher="-DCMAKE_CXX_COMPILER=$cxx"
if command -v ccache >/dev/null 2>&1; then launcher="$launcher -DCMAKE_CXX_COMPILER_LAUNCHER=ccache"; fi
cmake -S "$craft_src/examples/custom-server" -B "$work/build" -G "$generator" \
  -DCMAKE_BUILD_TYPE="$build_type" -DCMAKE_PREFIX_PATH="$work/prefix" $launcher >"$work/configure.log" ||
  { cat "$work/configure.log"; exit 1; }
cmake --build "$work/build" -j2
ctest --test-dir "$work/build" --output-on-failure

# README's "Writing a room" compiles as shown, against the same prefix.
mkdir -p "$work/readme"
awk '/^## Writing a room/{inside=1} inside && /^```cpp$/{code=1; next} code && /^```$/{exit} code{print}' \
  "$craft_src/README.md" >"$work/readme/main.cpp"
grep -q run_until_signal "$work/readme/main.cpp"
# Every installed header compiles on its own in a game's build (each in its own file).
for header in "$work/prefix/include/craft/"*.hpp; do
  name=$(basename "$header" .hpp)
  echo "#include <craft/$name.hpp>" >"$work/readme/header_$name.cpp"
done
cat >"$work/readme/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.25)
project(readme_room LANGUAGES CXX)
find_package(craft CONFIG REQUIRED)
file(GLOB headers header_*.cpp)
add_executable(arena-server main.cpp ${headers})
target_link_libraries(arena-server PRIVATE craft::server)
CMAKE
cmake -S "$work/readme" -B "$work/readme/build" -G "$generator" -DCMAKE_BUILD_TYPE="$build_type" \
  -DCMAKE_PREFIX_PATH="$work/prefix" $launcher >"$work/readme-configure.log" ||
  { cat "$work/readme-configure.log"; exit 1; }
cmake --build "$work/readme/build" -j2
"$work/readme/build/arena-server" --help | grep -q "arena-server"

# The server binary answers --help with the loader's options.
"$work/build/tally-server" --help | grep -q -- "--server.http-port"
# add_subdirectory: the same project with craft's source tree inside its build. Configured
# only (a full build is the install path above again): craft must bring its libraries and
# nothing else — no craftd, tests, benchmarks or examples in a game's build.
cmake -S "$craft_src/examples/custom-server" -B "$work/subdir" -G "$generator" -DCMAKE_BUILD_TYPE="$build_type" \
  -DTALLY_CRAFT_SOURCE_DIR="$craft_src" $launcher >"$work/subdir-configure.log" ||
  { cat "$work/subdir-configure.log"; exit 1; }
cmake --build "$work/subdir" --target help >"$work/subdir-targets.txt"
grep -qE '(^|[ /])craft_server([ :.]|$)' "$work/subdir-targets.txt" ||
  { echo "FAIL: add_subdirectory(craft) gave no craft_server target" >&2; exit 1; }
for unwanted in craftd craft_unit_tests craft_integration_tests craft_examples craft-bench; do
  if grep -qE "(^|[ /])$unwanted([ :.]|$)" "$work/subdir-targets.txt"; then
    echo "FAIL: add_subdirectory(craft) builds $unwanted in a game's build" >&2; exit 1
  fi
done
if [ -e "$work/subdir/craft/tests" ] || [ -e "$work/subdir/craft/apps" ]; then
  echo "FAIL: add_subdirectory(craft) registered craft's tests in a game's build" >&2; exit 1
fi

echo "custom-server: built against $work/prefix and its test passed"
