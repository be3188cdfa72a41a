# oag_bench_upstream: the fast fake OpenAI upstream scripts/bench.sh measures
# every gateway against (and calls directly as the baseline).
add_executable(oag_bench_upstream ${CMAKE_CURRENT_LIST_DIR}/fake_upstream.cpp)
target_link_libraries(oag_bench_upstream PRIVATE Boost::system Threads::Threads)
set_target_properties(oag_bench_upstream PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
