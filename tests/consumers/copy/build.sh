# [snippet]
c++ -std=c++17 -Wall -Wextra -Wpedantic -Wconversion -Wshadow -Werror -I third_party/include main.cpp -pthread -o list_tensors
# [/snippet]
