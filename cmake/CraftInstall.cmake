# craft as a C++ package. A game's CMakeLists.txt says either
#   find_package(craft CONFIG REQUIRED)        # after `cmake --install` (CMAKE_PREFIX_PATH)
# or
#   add_subdirectory(craft)                    # a copy/submodule, or FetchContent
# and then  target_link_libraries(game PRIVATE craft::server).
#
# Exported (static libraries; the headers are include/craft only):
#   craft::server  the server, built-in rooms, config loader, signal helpers (what a game links)
#   craft::config  the config loader alone (craft/config_loader.hpp)
#   craft::sync    lag compensation (craft/lag_compensation.hpp), pure, no server needed
#   craft::wire, craft::store, craft::proto  what craft::server is made of
# Every rule here is COMPONENT development (a server package installs craftd alone).
# Not exported: craft_client (sdk/cpp). Its header exposes the generated protobuf classes
# and a private codec header, so it is offered to add_subdirectory users only.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(CRAFT_EXPORTED_TARGETS craft_proto craft_wire craft_store craft_config craft_matchmaker craft_sync craft_server)
foreach(target IN LISTS CRAFT_EXPORTED_TARGETS)
  string(REPLACE "craft_" "" short ${target})
  set_target_properties(${target} PROPERTIES EXPORT_NAME ${short})
  add_library(craft::${short} ALIAS ${target})
endforeach()
add_library(craft::client ALIAS craft_client)

if(NOT CRAFT_INSTALL)
  return()
endif()

set(CRAFT_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/craft)
install(TARGETS ${CRAFT_EXPORTED_TARGETS} EXPORT craftTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT development
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT development
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/craft DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        COMPONENT development)
install(EXPORT craftTargets NAMESPACE craft:: FILE craftTargets.cmake DESTINATION ${CRAFT_CMAKE_DIR}
        COMPONENT development)
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/craftConfig.cmake.in
                              ${CMAKE_CURRENT_BINARY_DIR}/craftConfig.cmake
                              INSTALL_DESTINATION ${CRAFT_CMAKE_DIR})
# 0.x: a minor version may break the API, so only the same minor version matches.
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/craftConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/craftConfig.cmake ${CMAKE_CURRENT_BINARY_DIR}/craftConfigVersion.cmake
        DESTINATION ${CRAFT_CMAKE_DIR} COMPONENT development)
