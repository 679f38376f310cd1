# Finds the multi-threaded ZooKeeper C client (Debian: libzookeeper-mt-dev), which ships
# neither a CMake config nor a pkg-config file. Defines ZooKeeperMt::zookeeper_mt.
find_path(ZooKeeperMt_INCLUDE_DIR NAMES zookeeper/zookeeper.h)
find_library(ZooKeeperMt_LIBRARY NAMES zookeeper_mt)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(ZooKeeperMt REQUIRED_VARS ZooKeeperMt_LIBRARY ZooKeeperMt_INCLUDE_DIR)
if(ZooKeeperMt_FOUND AND NOT TARGET ZooKeeperMt::zookeeper_mt)
  add_library(ZooKeeperMt::zookeeper_mt UNKNOWN IMPORTED)
  set_target_properties(ZooKeeperMt::zookeeper_mt PROPERTIES
    IMPORTED_LOCATION "${ZooKeeperMt_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${ZooKeeperMt_INCLUDE_DIR}"
    # The multi-threaded library's synchronous API is declared only under THREADED.
    INTERFACE_COMPILE_DEFINITIONS THREADED)
endif()
mark_as_advanced(ZooKeeperMt_INCLUDE_DIR ZooKeeperMt_LIBRARY)
