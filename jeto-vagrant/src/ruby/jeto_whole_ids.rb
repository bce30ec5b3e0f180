# Loaded by Jeto into every vagrant process it runs (RUBYOPT=-r<this file>).
#
# Vagrant 2.3 looks each machine *name* up in its global machine index as an id prefix
# (`with_target_vms` calls `machine_index.get(name)`), so a machine whose name is made of hex
# letters only ("db", "cafe", "add") resolves to whichever indexed machine's id starts with
# those letters: `vagrant status` then lists that other machine in its place. Jeto never names
# a machine by id, so in its processes only a whole id finds an index entry. Anything that goes
# wrong here leaves Vagrant as it is.
begin
  jeto_whole_ids = Module.new do
    def find_by_prefix(prefix)
      found = super
      found if found && found["id"] == prefix
    end
  end
  # Module#name itself: some modules define their own `name` (REXML::Functions does).
  module_name = Module.instance_method(:name)
  jeto_trace = TracePoint.new(:end) do |tp|
    begin
      if tp.self.is_a?(Module) && module_name.bind_call(tp.self) == "Vagrant::MachineIndex"
        tp.self.prepend(jeto_whole_ids)
        jeto_trace.disable
      end
    rescue StandardError
      jeto_trace.disable
    end
  end
  jeto_trace.enable
rescue StandardError
  nil
end
