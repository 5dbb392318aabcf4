# [snippet]
c++ -std=c++17 main.cpp $(pkg-config --cflags safetensors) -o list_tensors
# [/snippet]
