# The web dashboard (dashboard/, docs/dashboard.md), built with npm + Vite and embedded into the
# static library vigil_dashboard (src/dashboard/assets.h), which src/web serves.
#
#   dashboard/package-lock.json --npm ci--> <build>/dashboard/work/node_modules   (stamp: npm-ci.stamp)
#   dashboard/{src,public,index.html,...} --copied to work/, npm run build--> <build>/dashboard/dist
#   dist/* --cmake/EmbedDashboard.cmake--> <build>/dashboard/dashboard_assets.inc --> vigil_dashboard
#
# npm works in a copy under the build directory, so the source tree stays clean and two build
# directories never share node_modules. Both steps are part of `all`.
#
# VIGIL_DASHBOARD=OFF, VIGIL_FUZZ and VIGIL_SANITIZE skip npm entirely (no node needed) and embed
# dashboard/placeholder/index.html, which says the dashboard was not built.
include_guard(GLOBAL)

option(VIGIL_DASHBOARD "Build the web dashboard with npm (needs nodejs and npm) and embed it" ON)

set(VIGIL_DASHBOARD_SOURCE_DIR ${PROJECT_SOURCE_DIR}/dashboard)
set(VIGIL_DASHBOARD_BINARY_DIR ${CMAKE_BINARY_DIR}/dashboard)
set(VIGIL_DASHBOARD_WORK ${VIGIL_DASHBOARD_BINARY_DIR}/work)
set(VIGIL_DASHBOARD_DIST ${VIGIL_DASHBOARD_BINARY_DIR}/dist)
set(VIGIL_DASHBOARD_INC ${VIGIL_DASHBOARD_BINARY_DIR}/dashboard_assets.inc)

if(VIGIL_DASHBOARD AND NOT VIGIL_FUZZ AND NOT VIGIL_SANITIZE)
  set(VIGIL_DASHBOARD_BUILT ON)
else()
  set(VIGIL_DASHBOARD_BUILT OFF)
endif()

if(VIGIL_DASHBOARD_BUILT)
  find_program(VIGIL_NODE NAMES node nodejs DOC "Node.js, for building the dashboard")
  find_program(VIGIL_NPM NAMES npm DOC "npm, for building the dashboard")
  if(NOT VIGIL_NODE OR NOT VIGIL_NPM)
    message(FATAL_ERROR
      "vigil: the dashboard needs node and npm (node: '${VIGIL_NODE}', npm: '${VIGIL_NPM}'). "
      "Run scripts/bootstrap.sh as root (or `make deps`), or configure with -DVIGIL_DASHBOARD=OFF.")
  endif()
  execute_process(COMMAND ${VIGIL_NODE} --version OUTPUT_VARIABLE node_version OUTPUT_STRIP_TRAILING_WHITESPACE)
  string(REGEX REPLACE "^v" "" node_version "${node_version}")
  if(node_version VERSION_LESS 18)
    message(FATAL_ERROR "vigil: the dashboard's build (Vite 6) needs node >= 18; ${VIGIL_NODE} is ${node_version}. "
                        "Configure with -DVIGIL_DASHBOARD=OFF to build without it.")
  endif()

  file(MAKE_DIRECTORY ${VIGIL_DASHBOARD_WORK})  # the commands below run there
  # npm ci: only when the package files change.
  set(npm_env ${CMAKE_COMMAND} -E env PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm_config_fund=false
              npm_config_audit=false npm_config_update_notifier=false)
  add_custom_command(
    OUTPUT ${VIGIL_DASHBOARD_BINARY_DIR}/npm-ci.stamp
    COMMAND ${CMAKE_COMMAND} -E copy ${VIGIL_DASHBOARD_SOURCE_DIR}/package.json
            ${VIGIL_DASHBOARD_SOURCE_DIR}/package-lock.json ${VIGIL_DASHBOARD_WORK}
    COMMAND ${npm_env} ${VIGIL_NPM} ci --no-audit --no-fund --loglevel=error
    COMMAND ${CMAKE_COMMAND} -E touch ${VIGIL_DASHBOARD_BINARY_DIR}/npm-ci.stamp
    DEPENDS ${VIGIL_DASHBOARD_SOURCE_DIR}/package.json ${VIGIL_DASHBOARD_SOURCE_DIR}/package-lock.json
    WORKING_DIRECTORY ${VIGIL_DASHBOARD_WORK}
    COMMENT "dashboard: npm ci"
    VERBATIM)

  # npm run build (tsc --noEmit && vite build): when any source of the dashboard changes.
  file(GLOB_RECURSE dashboard_sources CONFIGURE_DEPENDS
       ${VIGIL_DASHBOARD_SOURCE_DIR}/src/* ${VIGIL_DASHBOARD_SOURCE_DIR}/public/*)
  list(APPEND dashboard_sources ${VIGIL_DASHBOARD_SOURCE_DIR}/index.html
       ${VIGIL_DASHBOARD_SOURCE_DIR}/vite.config.ts ${VIGIL_DASHBOARD_SOURCE_DIR}/tsconfig.json)
  add_custom_command(
    OUTPUT ${VIGIL_DASHBOARD_BINARY_DIR}/build.stamp
    BYPRODUCTS ${VIGIL_DASHBOARD_DIST}/index.html
    COMMAND ${CMAKE_COMMAND} -E rm -rf ${VIGIL_DASHBOARD_WORK}/src ${VIGIL_DASHBOARD_WORK}/public
    COMMAND ${CMAKE_COMMAND} -E copy_directory ${VIGIL_DASHBOARD_SOURCE_DIR}/src ${VIGIL_DASHBOARD_WORK}/src
    COMMAND ${CMAKE_COMMAND} -E copy_directory ${VIGIL_DASHBOARD_SOURCE_DIR}/public ${VIGIL_DASHBOARD_WORK}/public
    COMMAND ${CMAKE_COMMAND} -E copy ${VIGIL_DASHBOARD_SOURCE_DIR}/index.html ${VIGIL_DASHBOARD_SOURCE_DIR}/vite.config.ts
            ${VIGIL_DASHBOARD_SOURCE_DIR}/tsconfig.json ${VIGIL_DASHBOARD_WORK}
    COMMAND ${npm_env} ${VIGIL_NPM} run --silent build -- --outDir ${VIGIL_DASHBOARD_DIST} --emptyOutDir --logLevel warn
    COMMAND ${CMAKE_COMMAND} -E touch ${VIGIL_DASHBOARD_BINARY_DIR}/build.stamp
    DEPENDS ${VIGIL_DASHBOARD_BINARY_DIR}/npm-ci.stamp ${dashboard_sources}
    WORKING_DIRECTORY ${VIGIL_DASHBOARD_WORK}
    COMMENT "dashboard: npm run build -> ${VIGIL_DASHBOARD_DIST}"
    VERBATIM)
  set(embed_dir ${VIGIL_DASHBOARD_DIST})
  set(embed_depends ${VIGIL_DASHBOARD_BINARY_DIR}/build.stamp)
else()
  set(embed_dir ${VIGIL_DASHBOARD_BINARY_DIR}/placeholder)
  add_custom_command(
    OUTPUT ${embed_dir}/index.html
    COMMAND ${CMAKE_COMMAND} -E copy ${VIGIL_DASHBOARD_SOURCE_DIR}/placeholder/index.html ${embed_dir}/index.html
    DEPENDS ${VIGIL_DASHBOARD_SOURCE_DIR}/placeholder/index.html
    COMMENT "dashboard: not built (VIGIL_DASHBOARD=${VIGIL_DASHBOARD}, VIGIL_FUZZ=${VIGIL_FUZZ}, VIGIL_SANITIZE=${VIGIL_SANITIZE}); embedding the placeholder"
    VERBATIM)
  set(embed_depends ${embed_dir}/index.html)
endif()

add_custom_command(
  OUTPUT ${VIGIL_DASHBOARD_INC}
  COMMAND ${CMAKE_COMMAND} -DDIR=${embed_dir} -DOUT=${VIGIL_DASHBOARD_INC}
          -P ${PROJECT_SOURCE_DIR}/cmake/EmbedDashboard.cmake
  DEPENDS ${embed_depends} ${PROJECT_SOURCE_DIR}/cmake/EmbedDashboard.cmake
  COMMENT "dashboard: embedding ${embed_dir}"
  VERBATIM)

add_library(vigil_dashboard STATIC ${PROJECT_SOURCE_DIR}/src/dashboard/assets.cpp ${VIGIL_DASHBOARD_INC})
set_source_files_properties(${VIGIL_DASHBOARD_INC} PROPERTIES HEADER_FILE_ONLY ON)
target_include_directories(vigil_dashboard PUBLIC ${PROJECT_SOURCE_DIR}/src PRIVATE ${VIGIL_DASHBOARD_BINARY_DIR})
target_compile_definitions(vigil_dashboard PRIVATE VIGIL_DASHBOARD_BUILT=$<BOOL:${VIGIL_DASHBOARD_BUILT}>)
