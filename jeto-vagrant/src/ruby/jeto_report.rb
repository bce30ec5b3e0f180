# Loaded by Jeto into the vagrant processes of actions that change a machine's state
# (RUBYOPT=-r<this file>, with JETO_REPORT=1). When vagrant exits, it prints each machine's state
# as `vagrant status --machine-readable` would, through Vagrant's own API (so it is right for
# every provider), and for running machines the SSH host and, when that host is loopback, the
# addresses the machine itself reports. Jeto then needs no second vagrant process to answer
# with the state after the action. Anything that goes wrong here only means Jeto reads the
# status the usual way.
at_exit do
  begin
    if ENV["JETO_REPORT"] == "1" && defined?(Vagrant::Environment)
      ObjectSpace.each_object(Vagrant::Environment) do |env|
        next unless env.root_path
        active = env.active_machines.to_h
        env.machine_names.each do |name|
          begin
            provider = active[name] || env.default_provider(machine: name)
            machine = env.machine(name, provider)
            state = machine.state
            now = Time.now.to_i
            $stdout.puts("#{now},#{name},provider-name,#{machine.provider_name}")
            $stdout.puts("#{now},#{name},state,#{state.id}")
            next unless state.id == :running
            info = machine.ssh_info
            next unless info && info[:host]
            $stdout.puts("#{now},#{name},jeto-ssh-host,#{info[:host]}")
            next unless info[:host].to_s.start_with?("127.", "::1", "localhost")
            out = +""
            machine.communicate.execute("hostname -I", error_check: false) do |type, data|
              out << data if type == :stdout
            end
            $stdout.puts("#{now},#{name},jeto-addresses,#{out.split.join(' ')}")
          rescue StandardError => e
            $stderr.puts("jeto report: #{name}: #{e.class}")
          end
        end
      end
      $stdout.flush
    end
  rescue Exception => e
    $stderr.puts("jeto report: #{e.class}")
  end
end
